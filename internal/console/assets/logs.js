// logs.js: error logs and request logs with filters, sorting by column,
// paging, the detail of one error, deletion, and the module's log level.
(function () {
  'use strict';
  var el = GB.el, g = GB.g, t = GB.t;

  var FILTERS = ['key', 'status', 'model', 'q', 'from', 'to'];
  var COLUMNS = {
    errors: [
      { label: 'col.time', sort: 'time', cell: function (r) { return el('span', { class: 'nowrap' }, GB.time(g(r, 'Time'))); } },
      { label: 'col.key', cell: keyCell },
      { label: 'col.model', sort: 'model', cell: function (r) { return el('span', { class: 'mono' }, g(r, 'Model') || '–'); } },
      { label: 'col.status', sort: 'status', cls: 'num', cell: statusCell },
      { label: 'col.kind', cell: function (r) { return g(r, 'Kind') || '–'; } },
      { label: 'col.message', cell: function (r) { var m = g(r, 'Message') || ''; return el('span', { class: 'msg', title: m }, m.length > 140 ? m.slice(0, 140) + '…' : m); } }
    ],
    requests: [
      { label: 'col.time', sort: 'time', cell: function (r) { return el('span', { class: 'nowrap' }, GB.time(g(r, 'Time'))); } },
      { label: 'col.key', cell: keyCell },
      { label: 'col.model', sort: 'model', cell: function (r) { return el('span', { class: 'mono' }, g(r, 'Model') || '–'); } },
      { label: 'col.status', sort: 'status', cls: 'num', cell: statusCell },
      { label: 'col.latency', sort: 'latency', cls: 'num', cell: function (r) { return GB.num(g(r, 'LatencyMs')) + ' ms'; } },
      { label: 'col.attempt', cls: 'num', cell: function (r) { return GB.num(g(r, 'Attempt')); } },
      { label: 'col.stream', cell: function (r) { return g(r, 'Stream') ? t('common.yes') : t('common.no'); } },
      { label: 'col.route', cell: function (r) { return el('span', { class: 'mono small' }, g(r, 'Route') || '–'); } },
      { label: 'col.token', cell: function (r) { return el('span', { class: 'mono small' }, g(r, 'ClientToken') || '–'); } },
      { label: 'col.tokens', cls: 'num', cell: function (r) {
        return el('span', { title: t('logs.tokensTip', { p: GB.num(g(r, 'PromptTokens')), c: GB.num(g(r, 'CompletionTokens')) }) }, GB.num(g(r, 'TotalTokens')));
      } }
    ]
  };

  var state = { kind: 'errors', page: 1, limit: 50, sort: '-time', f: {} };
  var data = null, loadError = null, seq = 0;
  var selected = new Set();
  var levelView = null;

  function keyCell(r) {
    var masked = g(r, 'KeyMasked'), id = g(r, 'KeyID');
    if (!masked && !id) return el('span', { class: 'muted' }, '–');
    return el('button', {
      type: 'button', class: 'linkish mono', title: t('logs.filterKey'),
      onclick: function (e) { e.stopPropagation(); setFilter('key', id || masked); }
    }, masked || id);
  }

  function statusCell(r) {
    var s = g(r, 'Status');
    return el('span', { class: 'code code-' + s + (s >= 200 && s < 300 ? ' code-ok' : ' code-bad') }, s || '–');
  }

  function setFilter(name, value) {
    var form = GB.$('filters');
    form.elements[name].value = value;
    state.f[name] = value;
    state.page = 1;
    load();
  }

  // ---- URL --------------------------------------------------------------

  function readURL() {
    var p = new URLSearchParams(location.search);
    state.kind = p.get('tab') === 'requests' ? 'requests' : 'errors';
    state.page = Math.max(1, parseInt(p.get('page'), 10) || 1);
    var lim = parseInt(p.get('limit'), 10);
    if ([20, 50, 100, 200].indexOf(lim) >= 0) state.limit = lim;
    state.sort = p.get('sort') || '-time';
    FILTERS.forEach(function (f) { state.f[f] = p.get(f) || ''; });
  }

  function writeURL() {
    var p = GB.keepPool(new URLSearchParams());
    p.set('tab', state.kind);
    FILTERS.forEach(function (f) { if (state.f[f]) p.set(f, state.f[f]); });
    if (state.sort !== '-time') p.set('sort', state.sort);
    if (state.page > 1) p.set('page', state.page);
    if (state.limit !== 50) p.set('limit', state.limit);
    history.replaceState(null, '', location.pathname + '?' + p.toString());
  }

  // iso turns a datetime-local value (local time) into RFC 3339.
  function iso(local) {
    var d = new Date(local);
    if (isNaN(d.getTime())) throw new Error(t('logs.badTime', { value: local }));
    return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  // keyID finds the id of the key the key filter names: an id as is, else
  // the one key whose masked form (or id) contains the text.
  function keyID() {
    var k = state.f.key;
    if (!k || /^[0-9a-f]{16}$/.test(k)) return Promise.resolve(k);
    return GB.api('GET', '/keys?limit=2&q=' + encodeURIComponent(k)).then(function (d) {
      if (d.total === 1) return d.keys[0].id;
      throw new Error(t(d.total ? 'logs.keyAmbiguous' : 'logs.keyUnknown', { key: k, n: GB.num(d.total) }));
    });
  }

  function query(key) {
    var p = new URLSearchParams();
    if (key) p.set('key', key);
    ['model', 'q'].forEach(function (f) { if (state.f[f]) p.set(f, state.f[f]); });
    if (state.f.status) {
      if (!/^\d{3}$/.test(state.f.status)) throw new Error(t('logs.badStatus'));
      p.set('status', state.f.status);
    }
    if (state.f.from) p.set('from', iso(state.f.from));
    if (state.f.to) p.set('to', iso(state.f.to));
    p.set('sort', state.sort);
    p.set('page', state.page);
    p.set('limit', state.limit);
    return '/logs/' + state.kind + '?' + p.toString();
  }

  // ---- loading and drawing ---------------------------------------------

  function load() {
    writeURL();
    var mine = ++seq;
    keyID().then(function (key) { return GB.api('GET', query(key)); }).then(function (d) {
      if (mine !== seq) return;
      data = d;
      loadError = null;
      render();
    }, function (e) {
      if (mine !== seq) return;
      loadError = e;
      data = null;
      render();
    });
  }

  function renderHead() {
    var cols = COLUMNS[state.kind];
    var all = el('input', { type: 'checkbox', id: 'logs-sel-page', 'aria-label': t('logs.selectPage') });
    all.addEventListener('change', function () {
      rows().forEach(function (r) { if (all.checked) selected.add(g(r, 'ID')); else selected.delete(g(r, 'ID')); });
      render();
    });
    GB.fill(GB.$('logs-head'), el('tr', {}, el('th', { class: 'chk' }, all), cols.map(function (c) {
      if (!c.sort) return el('th', { class: c.cls }, t(c.label));
      var dir = state.sort === c.sort ? 'asc' : state.sort === '-' + c.sort ? 'desc' : '';
      return el('th', { class: (c.cls || '') + ' sortable', 'aria-sort': dir ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' },
        el('button', {
          type: 'button', class: 'sort-btn', title: t('logs.sortTip'),
          onclick: function () { state.sort = state.sort === '-' + c.sort ? c.sort : '-' + c.sort; state.page = 1; load(); }
        }, t(c.label), el('span', { class: 'sort-mark' }, dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ' ↕')));
    }), state.kind === 'errors' ? el('th', {}, '') : null));
  }

  function rows() { return (data && data.logs) || []; }

  function render() {
    renderHead();
    GB.$('tab-errors').setAttribute('aria-selected', state.kind === 'errors');
    GB.$('tab-requests').setAttribute('aria-selected', state.kind === 'requests');
    var body = GB.$('logs-body');
    var cols = COLUMNS[state.kind].length + (state.kind === 'errors' ? 2 : 1);
    if (loadError) {
      GB.fill(body, el('tr', {}, el('td', { colspan: cols }, GB.errorBox(loadError))));
      GB.clear(GB.$('logs-pager'));
      GB.$('logs-total').textContent = '';
      updateSelection();
      return;
    }
    if (!data) return;
    var list = rows();
    GB.$('logs-total').textContent = t('logs.total', { n: GB.num(data.total) });
    if (!list.length) {
      var filtered = FILTERS.some(function (f) { return state.f[f]; });
      GB.fill(body, el('tr', {}, el('td', { colspan: cols, class: 'empty' }, t(filtered ? 'logs.noMatch' : 'logs.none'))));
    } else {
      GB.fill(body, list.map(function (r) {
        var id = g(r, 'ID');
        var box = el('input', { type: 'checkbox', checked: selected.has(id), 'aria-label': t('logs.selectRow') });
        box.addEventListener('click', function (e) { e.stopPropagation(); });
        box.addEventListener('change', function () { if (box.checked) selected.add(id); else selected.delete(id); updateSelection(); });
        var tr = el('tr', { class: 'clickable' + (selected.has(id) ? ' sel' : '') }, el('td', { class: 'chk' }, box),
          COLUMNS[state.kind].map(function (c) { return el('td', { class: c.cls }, c.cell(r)); }),
          state.kind === 'errors' ? el('td', {}, el('button', { type: 'button', class: 'btn btn-small', text: t('logs.details') })) : null);
        tr.addEventListener('click', function () { detail(r); });
        return tr;
      }));
    }
    GB.pager(GB.$('logs-pager'), data.page, data.limit, data.total, function (p) { state.page = p; load(); });
    updateSelection();
  }

  function updateSelection() {
    GB.$('logs-del-sel').disabled = selected.size === 0;
    GB.$('logs-del-sel').textContent = selected.size ? t('logs.deleteSelN', { n: GB.num(selected.size) }) : t('logs.deleteSel');
    var all = GB.$('logs-sel-page');
    if (!all) return;
    var list = rows();
    var on = list.filter(function (r) { return selected.has(g(r, 'ID')); }).length;
    all.checked = list.length > 0 && on === list.length;
    all.indeterminate = on > 0 && on < list.length;
  }

  // ---- detail -----------------------------------------------------------

  function pretty(text) {
    if (!text) return '';
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  function fieldsTable(pairs) {
    return el('table', { class: 'table kv' }, el('tbody', {}, pairs.filter(function (p) { return p[1] !== undefined; }).map(function (p) {
      return el('tr', {}, el('th', {}, t(p[0])), el('td', { class: 'mono' }, p[1] === '' || p[1] === null ? '–' : String(p[1])));
    })));
  }

  function block(titleKey, text) {
    return el('section', { class: 'detail-block' },
      el('div', { class: 'row' }, el('h3', {}, t(titleKey)), GB.copyButton(function () { return text; })),
      el('pre', { class: 'code-block' }, text));
  }

  function detail(r) {
    var id = g(r, 'ID');
    if (state.kind === 'requests') {
      GB.modal(t('logs.requestTitle', { id: id }), [fieldsTable([
        ['col.time', GB.time(g(r, 'Time'))], ['col.key', g(r, 'KeyMasked')], ['col.keyId', g(r, 'KeyID')],
        ['col.model', g(r, 'Model')], ['col.status', g(r, 'Status')], ['col.latency', GB.num(g(r, 'LatencyMs')) + ' ms'],
        ['col.attempt', g(r, 'Attempt')], ['col.stream', g(r, 'Stream') ? t('common.yes') : t('common.no')],
        ['col.route', g(r, 'Route')], ['col.token', g(r, 'ClientToken')],
        ['col.promptTokens', g(r, 'PromptTokens')], ['col.completionTokens', g(r, 'CompletionTokens')], ['col.tokens', g(r, 'TotalTokens')]
      ]), el('div', { class: 'row' }, GB.copyButton(function () { return JSON.stringify(r, null, 2); }, 'logs.copyAll'))]);
      return;
    }
    GB.modal(t('logs.errorTitle', { id: id }), el('p', { class: 'muted' }, t('common.loading')));
    GB.api('GET', '/logs/errors/' + encodeURIComponent(id)).then(function (e) {
      var body = g(e, 'Body') || '', req = g(e, 'RequestBody') || '';
      GB.fill(GB.$('modal-body'),
        fieldsTable([['col.time', GB.time(g(e, 'Time'))], ['col.key', g(e, 'KeyMasked')], ['col.keyId', g(e, 'KeyID')],
          ['col.model', g(e, 'Model')], ['col.status', g(e, 'Status')], ['col.kind', g(e, 'Kind')], ['col.message', g(e, 'Message')]]),
        body ? block('logs.body', pretty(body)) : el('p', { class: 'muted' }, t('logs.noBody')),
        req ? block('logs.requestBody', pretty(req)) : el('p', { class: 'muted small' }, t('logs.noRequestBody')),
        el('div', { class: 'row' }, GB.copyButton(function () { return JSON.stringify(e, null, 2); }, 'logs.copyAll')));
    }, function (err) { GB.fill(GB.$('modal-body'), GB.errorBox(err)); });
  }

  // ---- deleting ---------------------------------------------------------

  function del(all) {
    var what = state.kind === 'errors' ? t('logs.whatErrors') : t('logs.whatRequests');
    var ok = all ? confirm(t('logs.confirmAll', { what: what })) : confirm(t('logs.confirmSel', { n: GB.num(selected.size), what: what }));
    if (!ok) return;
    var body = all ? { all: true } : { ids: Array.from(selected) };
    GB.api('DELETE', '/logs/' + state.kind, body).then(function (r) {
      var msg = t('logs.deleted', { n: GB.num(r.deleted) });
      GB.fill(GB.$('logs-result'), GB.alertBox('ok', msg));
      GB.toast(msg);
      selected.clear();
      load();
    }, function (e) {
      GB.fill(GB.$('logs-result'), GB.errorBox(e));
      GB.toast(GB.errorText(e), 'error');
    });
  }

  // ---- log level --------------------------------------------------------

  function renderLevel() {
    var sel = GB.$('log-level'), note = GB.$('log-level-note');
    if (!levelView) return;
    GB.fill(sel, (levelView.choices || ['debug', 'info', 'warn', 'error']).map(function (c) {
      return el('option', { value: c, selected: c === levelView.value }, GB.has('level.' + c) ? t('level.' + c) : c);
    }));
    sel.disabled = levelView.source === 'caddyfile';
    GB.fill(note, levelView.source === 'caddyfile' ? el('span', { class: 'badge src-caddyfile' }, t('src.caddyfile')) : null);
  }

  function loadLevel() {
    GB.api('GET', '/settings').then(function (s) { levelView = s.log_level || null; renderLevel(); },
      function (e) { GB.fill(GB.$('log-level-note'), el('span', { class: 'bad' }, GB.errorText(e))); });
  }

  function changeLevel() {
    var sel = GB.$('log-level'), before = levelView.value;
    GB.api('PATCH', '/settings', { log_level: sel.value }).then(function (r) {
      levelView = r.settings && r.settings.log_level ? r.settings.log_level : levelView;
      renderLevel();
      GB.toast(t('set.saved', { name: 'log_level', from: before, to: levelView.value }));
    }, function (e) {
      renderLevel();
      var msg = e.fields && e.fields.log_level ? e.fields.log_level + '\n' : '';
      GB.fill(GB.$('logs-result'), GB.alertBox('error', el('span', { class: 'pre-line' }, msg + GB.errorText(e))));
      GB.toast(GB.errorText(e), 'error');
    });
  }

  GB.register('logs', function () {
    readURL();
    var form = GB.$('filters');
    FILTERS.forEach(function (f) { form.elements[f].value = state.f[f]; });
    GB.$('logs-limit').value = String(state.limit);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      FILTERS.forEach(function (f) { state.f[f] = form.elements[f].value.trim(); });
      state.page = 1;
      load();
    });
    GB.$('filters-clear').addEventListener('click', function () {
      FILTERS.forEach(function (f) { form.elements[f].value = ''; state.f[f] = ''; });
      state.page = 1;
      load();
    });
    ['tab-errors', 'tab-requests'].forEach(function (id) {
      GB.$(id).addEventListener('click', function () {
        var kind = GB.$(id).getAttribute('data-kind');
        if (kind === state.kind) return;
        state.kind = kind;
        state.page = 1;
        if (!/^-?(time|model|status)$/.test(state.sort)) state.sort = '-time';
        selected.clear();
        data = null;
        GB.clear(GB.$('logs-result'));
        load();
      });
    });
    GB.$('logs-limit').addEventListener('change', function () { state.limit = parseInt(GB.$('logs-limit').value, 10); state.page = 1; load(); });
    GB.$('logs-refresh').addEventListener('click', load);
    GB.$('logs-del-sel').addEventListener('click', function () { del(false); });
    GB.$('logs-del-all').addEventListener('click', function () { del(true); });
    GB.$('log-level').addEventListener('change', changeLevel);
    GB.onLang(function () { render(); renderLevel(); });
    loadLevel();
    load();
  });
})();
