"""Learning from outcomes: behaviour breaks, as-of features, churn models, cluster tiers, the call
network and retention evaluation (issue 15). Heavy imports (pandas, scikit-learn, scipy) stay inside
the modules that need them; this package's ``columns`` module is import-light."""
