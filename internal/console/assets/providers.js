// providers.js: every pool the console manages (its own and the pools it
// falls back to) in the order a request tries them, with a connection test
// per pool and per key. Upstream answers are shown as text, never parsed as
// HTML, and each failed one can be copied.
(function () {
  'use strict';
  var el = GB.el, t = GB.t;
  var KEY_LIMIT = 100;

  var pools = null;     // name -> summary from GET /pools
  var order = [];       // pool names in chain order
  var loadError = null;
  var keyLists = {};    // pool -> key list answer, or an ApiError
  var poolTests = {};   // pool -> last pool test answer, or an ApiError
  var probes = {};      // pool + '\n' + key id -> probe, or an ApiError
  var busy = {};        // pool, or pool + '\n' + key id -> true while testing

  function ref(pool, id) { return pool + '\n' + id; }

  // ---- loading ----------------------------------------------------------

  function load() {
    return GB.request('GET', GB.poolURL('', '')).then(function (list) {
      pools = {};
      list.forEach(function (p) { pools[p.name] = p; });
      // The console's own chain is the order its requests try pools in;
      // a pool outside it (none today) goes last.
      var own = pools[GB.ownPool];
      order = ((own && own.chain) || []).filter(function (n) { return pools[n]; });
      list.forEach(function (p) { if (order.indexOf(p.name) < 0) order.push(p.name); });
      loadError = null;
      render();
      return Promise.all(order.map(loadKeys));
    }, function (e) {
      loadError = e;
      render();
    });
  }

  function loadKeys(name) {
    return GB.apiFor(name, 'GET', '/keys?limit=' + KEY_LIMIT).then(function (d) {
      keyLists[name] = d;
    }, function (e) {
      keyLists[name] = e;
    }).then(function () { renderPool(name); });
  }

  // refresh re-reads one pool's summary and keys after a test changed
  // their standing.
  function refresh(name) {
    return GB.request('GET', GB.poolURL('', '')).then(function (list) {
      list.forEach(function (p) { if (p.name === name) pools[name] = p; });
    }, function () { /* the old summary stays */ }).then(function () { return loadKeys(name); });
  }

  // ---- testing ----------------------------------------------------------

  function testPool(name) {
    busy[name] = true;
    renderPool(name);
    GB.apiFor(name, 'POST', '/test').then(function (r) {
      poolTests[name] = r;
      (r.results || []).forEach(function (p) { probes[ref(name, p.key_id)] = p; });
    }, function (e) {
      poolTests[name] = e;
    }).then(function () {
      busy[name] = false;
      return refresh(name);
    });
  }

  function testKey(name, id) {
    var k = ref(name, id);
    busy[k] = true;
    renderPool(name);
    GB.apiFor(name, 'POST', '/test', { keys: [id] }).then(function (r) {
      var p = (r.results || [])[0];
      probes[k] = p || new GB.ApiError(404, t('prov.unknown', { list: (r.unknown || [id]).join(', ') }));
    }, function (e) {
      probes[k] = e;
    }).then(function () {
      busy[k] = false;
      return refresh(name);
    });
  }

  // ---- copying ----------------------------------------------------------

  function failed(p) { return !(p.status >= 200 && p.status < 300); }

  // errorText is what Copy puts on the clipboard: the status and the
  // upstream body, or the reason when no answer came.
  function errorText(p) {
    if (p.status) return 'HTTP ' + p.status + (p.body ? '\n' + p.body : (p.reason ? ' ' + p.reason : ''));
    return (p.reason || t('prov.noAnswer')) + (p.body ? '\n' + p.body : '');
  }

  function copyButton(text) {
    var b = el('button', { type: 'button', class: 'btn btn-small copy-error', title: t('prov.copyTip'), text: t('common.copy') });
    var timer = null;
    b.addEventListener('click', function () {
      // GB.copyText uses navigator.clipboard where the page may (HTTPS,
      // localhost) and a hidden text area with execCommand('copy') where
      // it may not (plain HTTP).
      GB.copyText(text).then(function () {
        b.textContent = t('prov.copied');
        b.classList.add('copied');
        clearTimeout(timer);
        timer = setTimeout(function () { b.textContent = t('common.copy'); b.classList.remove('copied'); }, 2500);
      }, function () { GB.copy(text); });
    });
    return b;
  }

  // ---- rendering --------------------------------------------------------

  function label(name, i) {
    var p = pools[name];
    return (i + 1) + '. ' + name + ' (' + (p.provider || 'gemini') + ')';
  }

  function renderChain() {
    var box = GB.$('prov-chain');
    if (!pools) { GB.clear(box); return; }
    var parts = [];
    order.forEach(function (name, i) {
      if (i) parts.push(el('span', { class: 'chain-arrow', 'aria-hidden': 'true' }, ' → '));
      parts.push(el('a', { class: 'chain-step', href: '#pool-' + name }, label(name, i)));
    });
    GB.fill(box, parts);
  }

  function pageURL(page, name) {
    return GB.prefix + page + (name === GB.ownPool ? '' : '?pool=' + encodeURIComponent(name));
  }

  function probeBlock(p) {
    if (p instanceof Error) return GB.errorBox(p);
    var ok = !failed(p);
    var verdict = p.verdict ? (GB.has('verdict.' + p.verdict) ? t('verdict.' + p.verdict) : p.verdict) : '';
    return el('div', { class: 'probe' + (ok ? ' probe-ok' : ' probe-bad') },
      el('div', { class: 'probe-line' },
        el('span', { class: 'code probe-status ' + (ok ? 'code-ok' : 'code-bad') }, p.status ? String(p.status) : t('prov.noAnswer')),
        el('span', { class: 'muted small probe-latency', title: t('prov.latency') }, t('prov.ms', { n: GB.num(p.latency_ms) })),
        verdict ? el('span', { class: 'small probe-verdict', title: t('prov.verdict') }, verdict) : null,
        ok ? null : copyButton(errorText(p))),
      p.reason ? el('div', { class: 'small reason probe-reason' }, p.reason) : null,
      el('pre', { class: 'code-block probe-body', title: t('prov.body') }, p.body ? p.body : t('prov.noBody')));
  }

  function keyRow(name, k) {
    var id = k.id || k.key_id;
    var r = ref(name, id);
    return el('tr', { 'data-key-id': id },
      el('td', {}, el('span', { class: 'mono key' }, k.key), el('div', { class: 'muted small mono' }, id)),
      el('td', {}, k.status ? GB.badge(k.status) : el('span', { class: 'muted' }, '–')),
      el('td', {}, el('button', {
        type: 'button', class: 'btn btn-small test-key', disabled: !!busy[r] || !!busy[name], title: t('prov.testKeyTip'),
        onclick: function () { testKey(name, id); }
      }, busy[r] ? t('prov.testing') : t('prov.test'))),
      el('td', { class: 'probe' }, probes[r] ? probeBlock(probes[r]) : el('span', { class: 'muted' }, '–')));
  }

  function keysTable(name) {
    var list = keyLists[name];
    if (!list) return el('p', { class: 'muted' }, t('common.loading'));
    if (list instanceof Error) return GB.errorBox(list);
    var keys = list.keys || [];
    // Keys a pool test probed that are not on the first page still show.
    var listed = {};
    keys.forEach(function (k) { listed[k.id] = true; });
    var extra = [];
    Object.keys(probes).forEach(function (r) {
      var p = probes[r];
      if (r.indexOf(name + '\n') === 0 && !(p instanceof Error) && !listed[p.key_id]) extra.push({ id: p.key_id, key: p.key });
    });
    if (!keys.length && !extra.length) return el('p', { class: 'muted' }, t('prov.noKeys'));
    return el('div', {},
      el('div', { class: 'table-wrap' }, el('table', { class: 'table keys-table' },
        el('thead', {}, el('tr', {},
          el('th', {}, t('col.key')), el('th', {}, t('col.status')), el('th', {}, t('prov.test')), el('th', {}, t('prov.result')))),
        el('tbody', {}, keys.concat(extra).map(function (k) { return keyRow(name, k); })))),
      list.total > keys.length ? el('p', { class: 'muted small' }, t('prov.keysShown', { n: GB.num(keys.length), total: GB.num(list.total) })) : null);
  }

  function poolTestSummary(name) {
    var r = poolTests[name];
    if (!r) return null;
    if (r instanceof Error) return GB.errorBox(r);
    var out = [GB.alertBox(r.ok === r.tested && r.tested ? 'ok' : 'warn',
      t('prov.tested', { ok: GB.num(r.ok), n: GB.num(r.tested), total: GB.num(r.total) }))];
    if (r.unknown && r.unknown.length) out.push(GB.alertBox('warn', t('prov.unknown', { list: r.unknown.join(', ') })));
    return el('div', { class: 'pool-test-result' }, out);
  }

  function modelMap(m) {
    var names = Object.keys(m || {}).sort();
    if (!names.length) return el('span', { class: 'muted' }, t('prov.none'));
    return el('ul', { class: 'mono small plain' }, names.map(function (from) { return el('li', {}, from + ' → ' + m[from]); }));
  }

  function poolCard(name) {
    var p = pools[name];
    var i = order.indexOf(name);
    var c = p.keys || {};
    return el('section', { class: 'block panel provider', id: 'pool-' + name, 'data-pool': name },
      el('div', { class: 'provider-head' },
        el('h2', {}, (i + 1) + '. ' + name),
        el('span', { class: 'badge badge-provider' }, p.provider || 'gemini'),
        el('span', { class: 'muted small' }, name === GB.ownPool ? t('prov.own') : t('prov.fallbackN', { n: i })),
        el('span', { class: 'spacer' }),
        el('a', { class: 'btn btn-small', href: pageURL('/keys', name) }, t('prov.manageKeys')),
        el('a', { class: 'btn btn-small', href: pageURL('/settings', name) }, t('prov.settings')),
        el('button', {
          type: 'button', class: 'btn btn-primary test-pool', disabled: !!busy[name], title: t('prov.testPoolTip'),
          onclick: function () { testPool(name); }
        }, busy[name] ? t('prov.testing') : t('prov.testPool'))),
      el('dl', { class: 'provider-facts' },
        el('dt', {}, t('prov.provider')), el('dd', { class: 'pool-provider' }, p.provider || 'gemini'),
        el('dt', {}, t('prov.baseURL')), el('dd', { class: 'mono pool-base-url' }, p.base_url || '–'),
        el('dt', {}, t('prov.fallback')), el('dd', { class: 'pool-fallback' },
          (p.fallback || []).length ? p.fallback.join(' → ') : el('span', { class: 'muted' }, t('prov.none'))),
        el('dt', {}, t('prov.modelMap')), el('dd', {}, modelMap(p.model_map)),
        el('dt', {}, t('prov.keys')), el('dd', { class: 'pool-counts' },
          GB.badge('active'), ' ', GB.num(c.active || 0), '  ', GB.badge('cooling'), ' ', GB.num(c.cooling || 0), '  ',
          GB.badge('invalid'), ' ', GB.num(c.invalid || 0))),
      poolTestSummary(name),
      keysTable(name));
  }

  function renderPool(name) {
    var old = document.querySelector('section.provider[data-pool="' + CSS.escape(name) + '"]');
    if (old && pools && pools[name]) old.parentNode.replaceChild(poolCard(name), old);
  }

  function render() {
    renderChain();
    if (loadError) {
      GB.fill(GB.$('prov-status'), GB.errorBox(loadError));
      GB.clear(GB.$('prov-pools'));
      return;
    }
    GB.clear(GB.$('prov-status'));
    if (!pools) return;
    GB.fill(GB.$('prov-pools'), order.map(poolCard));
  }

  GB.register('providers', function () {
    GB.$('prov-refresh').addEventListener('click', load);
    GB.onLang(render);
    load();
  });
})();
