"""Domain vocabulary: every value that more than one module needs lives here, once.

Speaker roles and their groups, keyword categories and what each is used for, customer tiers,
churn-risk levels and their order, warning levels, sentiment cut-offs, the default time zone, the
decoded sample rate and the `kw_` column names. Their Chinese labels for pages live in
`speechchurn/labels.py`, the one home of every label dictionary.
"""

from __future__ import annotations

# --- time and audio ------------------------------------------------------------------------------

DEFAULT_TIMEZONE = "Asia/Shanghai"  # time zone of naive timestamps (mainland China call centres)
EARLIEST_CALL_YEAR = 1900  # call times and --as-of dates outside these years are refused as typos:
LATEST_CALL_YEAR = 2200  # pandas timestamps end in 2262, and no call centre recorded before 1900
SAMPLE_RATE_HZ = 16_000  # Hz: every decoded channel; what Whisper and the Silero VAD expect

# --- speaker roles -------------------------------------------------------------------------------

ROLE_AGENT = "agent"
ROLE_CUSTOMER = "customer"
ROLE_MIXED = "mixed"  # mono recording: both parties on one channel
ROLES = (ROLE_AGENT, ROLE_CUSTOMER, ROLE_MIXED)  # also the order in which channels are listed
SPEAKER_ROLES = (ROLE_AGENT, ROLE_CUSTOMER)  # one party per channel (stereo)
CUSTOMER_SIDE_ROLES = (ROLE_CUSTOMER, ROLE_MIXED)  # whose words count as the customer's
# where a call's roles come from (calls.csv role_source; speechchurn/call/roles.py)
ROLE_SOURCE_CHANNELS = "channels"  # stereo: one party per channel
ROLE_SOURCE_DIARIZED = "diarized"  # mono: recovered by voice and the agent's script cues
ROLE_SOURCE_MIXED = "mixed"  # mono: both parties on one channel, roles unknown or unsure
ROLE_SOURCES = (ROLE_SOURCE_CHANNELS, ROLE_SOURCE_DIARIZED, ROLE_SOURCE_MIXED)

# --- keyword categories (one lexicon file each; see speechchurn/data/lexicons) --------------------

CAT_BILLING = "billing"
CAT_CHURN_INTENT = "churn_intent"
CAT_COMPETITOR = "competitor"
CAT_COMPLAINT = "complaint"
CAT_HOLD = "hold"
CAT_INQUIRY = "inquiry"
CAT_NETWORK = "network"
CAT_PRAISE = "praise"
CAT_TRANSFER = "transfer"
# Roles of categories:
# stance: the customer's attitude; negatable (不投诉) and dropped inside a longer hit of another category
STANCE_CATEGORIES = frozenset({CAT_COMPLAINT, CAT_CHURN_INTENT, CAT_PRAISE})
NEGATABLE_CATEGORIES = STANCE_CATEGORIES
# agent events: the agent's words mark a hold or a transfer in the call's timeline
HOLD_CATEGORY = CAT_HOLD
TRANSFER_CATEGORY = CAT_TRANSFER
# counted per customer as "calls with at least one hit": complaint_calls, churn_intent_calls
CALL_COUNT_CATEGORIES = (CAT_COMPLAINT, CAT_CHURN_INTENT)
COMPETITOR_CATEGORY = CAT_COMPETITOR  # summed per customer as competitor_mentions
# quoted first in the supervisor's review queue
PRIORITY_CATEGORIES = (CAT_COMPLAINT, CAT_CHURN_INTENT, CAT_COMPETITOR)
ALARM_CATEGORIES = (CAT_COMPLAINT, CAT_CHURN_INTENT)  # drawn in the alarm colour in charts

# --- keyword count columns -----------------------------------------------------------------------

KW_PREFIX = "kw_"
KW_AGENT_SUFFIX = "_agent"


def kw_column(category: str) -> str:
    """The customer-side count column of a category: kw_<category>."""
    return f"{KW_PREFIX}{category}"


def kw_agent_column(category: str) -> str:
    """The agent-side count column of a category: kw_<category>_agent."""
    return f"{KW_PREFIX}{category}{KW_AGENT_SUFFIX}"


def is_customer_kw_column(column: str) -> bool:
    """True for kw_<category> (customer side), false for kw_<category>_agent and anything else."""
    return (
        column.startswith(KW_PREFIX) and not column.endswith(KW_AGENT_SUFFIX) and len(column) > len(KW_PREFIX)
    )


def kw_category(column: str) -> str:
    """The category of a kw_<category> column."""
    return column.removeprefix(KW_PREFIX)


# --- sentiment (scores in [0, 1], 1 = positive) ---------------------------------------------------

NEGATIVE_BELOW = 0.4  # score < 0.4: negative segment; a call with mean below it is a negative call
POSITIVE_ABOVE = 0.6  # score > 0.6: positive; in between: neutral

# --- customers: tiers, churn risk, warnings ------------------------------------------------------

TIER_VIP, TIER_ORDINARY, TIER_SILENT = "VIP", "ordinary", "silent"
TIER_ORDER = (TIER_VIP, TIER_ORDINARY, TIER_SILENT)
# grade --tiering cluster names clusters by their centroid (speechchurn/outcomes/cluster.py)
CLUSTER_VIP, CLUSTER_ORDINARY = "VIP-like", TIER_ORDINARY  # an ordinary cluster keeps the tier's name
CLUSTER_SILENT, CLUSTER_AT_RISK = "silent-like", "at-risk"
RISK_HIGH, RISK_MEDIUM, RISK_LOW = "high", "medium", "low"
RISK_LEVELS = (RISK_HIGH, RISK_MEDIUM, RISK_LOW)  # most severe first: the sort order everywhere
WARNING_RED, WARNING_ORANGE, WARNING_YELLOW, WARNING_NONE = "red", "orange", "yellow", "none"
DIRECTION_IN, DIRECTION_OUT = "in", "out"


def risk_rank(level: object) -> int:
    """0 for the most severe risk level; unknown levels sort last."""
    return RISK_LEVELS.index(level) if level in RISK_LEVELS else len(RISK_LEVELS)


# --- QA (质检, speechchurn/qa) --------------------------------------------------------------------
QA_SCORE_COLUMN = "qa_score"  # qa_calls.csv: 0..100, empty when no criterion applies
QA_AUTO_FAILED_COLUMN = "qa_auto_failed"  # qa_calls.csv: 1 when an auto_fail criterion failed
QA_FAILED_COLUMN = "qa_failed"  # qa_calls.csv: 1 when auto-failed or below the form's fail_below
QA_REVIEWED_BY_COLUMN = "qa_reviewed_by"  # qa_calls.csv: reviewers whose appeals changed the call
QA_UNKNOWN_AGENT = "unknown"  # agent of calls whose manifest / file name names none
