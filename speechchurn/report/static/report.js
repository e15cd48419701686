// speechchurn report: inlined into report.html by speechchurn/report/html.py
(function () {
  // thresholds, colours and labels come from Python as data (the report-settings JSON block)
  var settings = JSON.parse(document.getElementById('report-settings').textContent);
  var sentiment = settings.sentiment;
  function sentimentColor(v) {
    if (v === null) return sentiment.colors.missing;
    if (v < sentiment.negative_below) return sentiment.colors.negative;
    return v < sentiment.positive_above ? sentiment.colors.neutral : sentiment.colors.positive;
  }
  function renderQuarters(root) {
    if (!window.Plotly) return;
    root.querySelectorAll('.qchart:not(.done)').forEach(function (el) {
      var q = JSON.parse(el.getAttribute('data-q'));
      var mid = sentiment.neutral;
      Plotly.newPlot(el, [{type: 'bar', x: settings.quarter_labels, y: q, marker: {color: q.map(sentimentColor)},
        hovertemplate: '%{x}: %{y:.2f}<extra></extra>'}],
        {height: 120, margin: {l: 30, r: 8, t: 8, b: 22}, yaxis: {range: [0, 1], tickvals: [0, mid, 1]},
         shapes: [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: mid, y1: mid,
                   line: {dash: 'dot', color: '#999'}}],
         font: {size: 11}}, {displayModeBar: false, responsive: true});
      el.classList.add('done');
    });
  }
  function show() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    var isCustomer = target && target.classList.contains('customer-page');
    var page = isCustomer ? target : document.getElementById('main');
    document.querySelectorAll('.page').forEach(function (p) { p.hidden = (p !== page); });
    if (page.id === 'main') {
      if (window.Plotly) {
        page.querySelectorAll('.js-plotly-plot').forEach(function (el) { Plotly.Plots.resize(el); });
      }
      if (target) target.scrollIntoView(); else window.scrollTo(0, 0);
    } else {
      renderQuarters(page);
      window.scrollTo(0, 0);
    }
  }
  var filter = document.getElementById('customer-filter');
  if (filter) filter.addEventListener('input', function () {
    var needle = filter.value.trim().toLowerCase();
    document.querySelectorAll('#customers-table tbody tr').forEach(function (tr) {
      tr.hidden = needle && tr.textContent.toLowerCase().indexOf(needle) < 0;
    });
  });
  document.querySelectorAll('table.sortable thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var tbody = th.closest('table').tBodies[0];
      var asc = th.getAttribute('data-sort') !== 'asc';
      th.setAttribute('data-sort', asc ? 'asc' : 'desc');
      var key = function (tr) {
        var t = tr.cells[col].textContent.trim();
        var n = parseFloat(t.replace(/,/g, ''));
        return isNaN(n) || !/^[-\d.,]+/.test(t) ? t : n;
      };
      Array.from(tbody.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var bothNumbers = typeof x === 'number' && typeof y === 'number';
        var c = bothNumbers ? x - y : String(x).localeCompare(String(y), 'zh');
        return asc ? c : -c;
      }).forEach(function (tr) { tbody.appendChild(tr); });
    });
  });
  window.addEventListener('hashchange', show);
  show();
})();
