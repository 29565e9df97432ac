// dashboard.js: keys by status, calls per period, the 24-hour trend, calls
// per model and per client token, the keys with the most 429/403/400, and
// the size of the image store.
(function () {
  'use strict';
  var el = GB.el, g = GB.g, t = GB.t;
  var SVG = 'http://www.w3.org/2000/svg';
  var last = null, lastHealth = null, lastError = null, updatedAt = null;
  var lastImages = null; // the images answer (usage only), or an ApiError

  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== undefined && c !== null) e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function counts(c) {
    return { total: g(c, 'Total') || 0, success: g(c, 'Success') || 0, failure: g(c, 'Failure') || 0 };
  }

  function renderCalls(s) {
    var periods = [['Minute', 'dash.minute'], ['Hour', 'dash.hour'], ['Day', 'dash.day'], ['Month', 'dash.month']];
    GB.fill(GB.$('call-cards'), periods.map(function (p) {
      var c = counts(g(s, p[0]));
      return el('div', { class: 'card' },
        el('span', { class: 'card-label' }, t(p[1])),
        el('b', { class: 'card-num' }, GB.num(c.total)),
        el('span', { class: 'card-sub' },
          el('span', { class: 'ok' }, '✓ ' + GB.num(c.success)), ' ', t('dash.success'), ' · ',
          el('span', { class: c.failure ? 'bad' : 'muted' }, '✗ ' + GB.num(c.failure)), ' ', t('dash.failure'),
          c.total ? el('span', { class: 'muted' }, ' (' + GB.pct(c.failure, c.total) + ')') : null));
    }));
  }

  // hourly puts the trend into 24 hourly slots ending with the current hour.
  function hourly(trend) {
    var now = new Date();
    now.setMinutes(0, 0, 0);
    var first = now.getTime() - 23 * 3600e3;
    var slots = [];
    for (var i = 0; i < 24; i++) slots.push({ start: new Date(first + i * 3600e3), total: 0, success: 0, failure: 0 });
    (trend || []).forEach(function (b) {
      var d = GB.parseTime(g(b, 'Start'));
      if (!d) return;
      var i = Math.floor((d.getTime() - first) / 3600e3);
      if (i < 0 || i > 23) return;
      var c = counts(b);
      slots[i].total += c.total;
      slots[i].success += c.success;
      slots[i].failure += c.failure;
    });
    return slots;
  }

  function niceMax(n) {
    if (n <= 4) return 4;
    var p = Math.pow(10, Math.floor(Math.log10(n)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= n) return steps[i] * p;
    return 10 * p;
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  function renderTrend(s) {
    var box = GB.$('trend');
    var slots = hourly(g(s, 'Trend'));
    var W = Math.max(300, Math.floor(box.clientWidth || 960)), H = W < 600 ? 200 : 260, L = 48, R = 8, T = 14, B = 34;
    var every = W < 600 ? 6 : 3;
    var max = niceMax(Math.max.apply(null, slots.map(function (x) { return x.total; })));
    var cw = (W - L - R) / slots.length, bw = Math.max(4, cw * 0.7);
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'trend-svg' });
    for (var k = 0; k <= 4; k++) {
      var v = max * k / 4, yy = y(v);
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: k ? 'grid' : 'axis' }));
      root.appendChild(svg('text', { x: L - 8, y: yy + 4, class: 'tick', 'text-anchor': 'end' }, GB.num(Math.round(v * 100) / 100)));
    }
    var any = false;
    slots.forEach(function (sl, i) {
      var x = L + i * cw + (cw - bw) / 2;
      var gEl = svg('g', { class: 'bar' });
      var other = Math.max(0, sl.total - sl.success - sl.failure);
      var ok = sl.success + other;
      if (sl.total) any = true;
      if (ok) gEl.appendChild(svg('rect', { x: x, y: y(ok), width: bw, height: y(0) - y(ok), class: 'bar-ok' }));
      if (sl.failure) gEl.appendChild(svg('rect', { x: x, y: y(ok + sl.failure), width: bw, height: y(ok) - y(ok + sl.failure), class: 'bar-bad' }));
      // a transparent full-height target so every hour shows its numbers
      gEl.appendChild(svg('rect', { x: L + i * cw, y: T, width: cw, height: H - T - B, class: 'bar-hit' }));
      var h = sl.start.getHours();
      gEl.appendChild(svg('title', {}, pad2(h) + ':00–' + pad2((h + 1) % 24) + ':00  ' +
        t('dash.barTip', { total: GB.num(sl.total), success: GB.num(sl.success), failure: GB.num(sl.failure) })));
      root.appendChild(gEl);
      if (i % every === 0 || (i === slots.length - 1 && every === 3)) {
        root.appendChild(svg('text', { x: L + i * cw + cw / 2, y: H - B + 18, class: 'tick', 'text-anchor': 'middle' }, pad2(h) + ':00'));
      }
    });
    GB.fill(box, root, any ? null : el('p', { class: 'chart-empty muted' }, t('dash.noCalls')));
  }

  function nameTable(tbody, rows, emptyKey) {
    rows = (rows || []).slice().sort(function (a, b) { return (g(b, 'Total') || 0) - (g(a, 'Total') || 0); });
    if (!rows.length) {
      GB.fill(tbody, el('tr', {}, el('td', { colspan: 4, class: 'empty' }, t(emptyKey))));
      return;
    }
    GB.fill(tbody, rows.map(function (r) {
      var total = g(r, 'Total') || 0, fail = g(r, 'Failure') || 0;
      var name = g(r, 'Name');
      return el('tr', {},
        el('td', { class: 'mono' }, name === '' || name === undefined ? el('span', { class: 'muted' }, t('dash.none')) : name),
        el('td', { class: 'num' }, GB.num(total)),
        el('td', { class: 'num' + (fail ? ' bad' : '') }, GB.num(fail)),
        el('td', { class: 'num' }, GB.pct(fail, total)));
    }));
  }

  function renderTopKeys(s) {
    var top = g(s, 'TopKeys') || {};
    var codes = ['429', '403', '400'];
    Object.keys(top).sort().forEach(function (c) { if (codes.indexOf(c) < 0) codes.push(c); });
    GB.fill(GB.$('top-keys'), codes.map(function (code) {
      var list = (top[code] || []).slice().sort(function (a, b) { return (g(b, 'Count') || 0) - (g(a, 'Count') || 0); });
      var body = list.length ? list.map(function (k) {
        var link = GB.prefix + '/logs?tab=errors&status=' + encodeURIComponent(code) + '&key=' + encodeURIComponent(g(k, 'KeyID') || '');
        return el('tr', {},
          el('td', { class: 'mono' }, el('a', { href: link, title: t('dash.seeLogs') }, g(k, 'KeyMasked') || g(k, 'KeyID'))),
          el('td', { class: 'num' }, GB.num(g(k, 'Count'))));
      }) : el('tr', {}, el('td', { colspan: 2, class: 'empty' }, t('dash.noErrors')));
      return el('div', { class: 'topkeys' },
        el('h3', {}, el('span', { class: 'code code-' + code }, code), ' ', GB.has('dash.code.' + code) ? t('dash.code.' + code) : ''),
        el('div', { class: 'table-wrap short' }, el('table', { class: 'table' },
          el('thead', {}, el('tr', {}, el('th', {}, t('col.key')), el('th', { class: 'num' }, t('col.count')))),
          el('tbody', {}, body))));
    }));
  }

  function renderAlerts() {
    var box = GB.$('dash-alerts');
    var items = [];
    if (lastError) items.push(GB.errorBox(lastError));
    if (last && last.database_error) items.push(GB.alertBox('error', t('dash.dbError', { detail: last.database_error })));
    if (last && last.dropped_logs > 0) items.push(GB.alertBox('warn', t('dash.dropped', { n: GB.num(last.dropped_logs) })));
    if (lastHealth && lastHealth.problems && lastHealth.problems.length) {
      items.push(GB.alertBox('warn', [t('dash.problems'), ' ', lastHealth.problems.join('; ')]));
    }
    GB.fill(box, items);
  }

  // renderImages shows the store's image count and size, or "off".
  function renderImages() {
    var d = lastImages;
    if (!d) return;
    if (d instanceof Error) {
      GB.$('img-count').textContent = '–';
      GB.$('img-bytes').textContent = '–';
      GB.$('img-state').textContent = GB.errorText(d);
      GB.$('img-limits').textContent = '';
      return;
    }
    if (!d.enabled) {
      GB.$('img-count').textContent = t('dash.imagesOff');
      GB.$('img-bytes').textContent = '–';
      GB.$('img-state').textContent = t('dash.imagesOffHint');
      GB.$('img-limits').textContent = '';
      return;
    }
    GB.$('img-count').textContent = GB.num(d.count);
    GB.$('img-bytes').textContent = GB.bytes(d.bytes);
    GB.$('img-state').textContent = t('dash.imagesKept', { retention: GB.goSpan(d.retention) });
    GB.$('img-limits').textContent = t('dash.imagesMax', { max: GB.bytes(d.max_bytes) });
  }

  function render() {
    renderAlerts();
    renderImages();
    if (!last) return;
    var k = last.keys || {};
    GB.$('k-active').textContent = GB.num(k.active || 0);
    GB.$('k-cooling').textContent = GB.num(k.cooling || 0);
    GB.$('k-invalid').textContent = GB.num(k.invalid || 0);
    GB.$('k-total').textContent = GB.num((k.active || 0) + (k.cooling || 0) + (k.invalid || 0));
    renderCalls(last);
    renderTrend(last);
    nameTable(GB.$('by-model'), g(last, 'ByModel'), 'dash.noCalls');
    nameTable(GB.$('by-token'), g(last, 'ByToken'), 'dash.noCalls');
    renderTopKeys(last);
    if (updatedAt) GB.$('dash-updated').textContent = t('dash.updated', { time: GB.time(updatedAt) });
  }

  function load() {
    var btn = GB.$('dash-refresh');
    btn.disabled = true;
    Promise.all([
      GB.api('GET', '/stats').then(function (s) { last = s; lastError = null; updatedAt = new Date(); }, function (e) { lastError = e; }),
      GB.api('GET', '/health').then(function (h) { lastHealth = h; }, function () { lastHealth = null; }),
      // limit=1: the dashboard needs the usage, not the list.
      GB.api('GET', '/images?limit=1').then(function (d) { lastImages = d; }, function (e) { lastImages = e; })
    ]).then(function () { btn.disabled = false; render(); });
  }

  GB.register('dashboard', function () {
    GB.$('dash-refresh').addEventListener('click', load);
    GB.onLang(render);
    window.addEventListener('resize', GB.debounce(function () { if (last) renderTrend(last); }, 200));
    load();
    setInterval(function () { if (!document.hidden) load(); }, 30000);
  });
})();
