// keys.js: the key list (server-side paging, search, status filter), adding
// keys from pasted text, and the bulk actions: check, reset, copy, delete.
(function () {
  'use strict';
  var el = GB.el, t = GB.t;
  var KEY_RE = /AIza[0-9A-Za-z_\-]{35}/g;
  // A Gemini pool finds Google API keys in any text; other providers' keys
  // (sk-…, Vertex express keys) have no one shape, so there every token of
  // 20 characters or more between spaces, commas or semicolons counts and
  // the server checks each one's shape.
  var ANY_SHAPE = GB.provider !== 'gemini';

  function keysIn(text) {
    var found;
    if (!ANY_SHAPE) {
      found = text.match(KEY_RE) || [];
    } else {
      found = text.split(/[\s,;]+/).map(function (w) {
        return w.replace(/^["'`(\[{<]+|["'`)\]}>]+$/g, '');
      }).filter(function (w) { return w.length >= 20 && w.length <= 256; });
    }
    return Array.from(new Set(found));
  }
  var BATCH = 50;

  var state = { page: 1, limit: 50, status: '', q: '' };
  var data = null, fetchedAt = 0, seq = 0, loadError = null;
  var selected = new Map(); // id -> masked key
  var busy = false, stopRequested = false;

  function readURL() {
    var p = new URLSearchParams(location.search);
    state.status = p.get('status') || '';
    state.q = p.get('q') || '';
    state.page = Math.max(1, parseInt(p.get('page'), 10) || 1);
    var lim = parseInt(p.get('limit'), 10);
    if ([20, 50, 100, 200, 500].indexOf(lim) >= 0) state.limit = lim;
  }

  function writeURL() {
    var p = GB.keepPool(new URLSearchParams());
    if (state.status) p.set('status', state.status);
    if (state.q) p.set('q', state.q);
    if (state.page > 1) p.set('page', state.page);
    if (state.limit !== 50) p.set('limit', state.limit);
    var qs = p.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : ''));
  }

  function query() {
    var p = new URLSearchParams();
    if (state.status) p.set('status', state.status);
    if (state.q) p.set('q', state.q);
    p.set('page', state.page);
    p.set('limit', state.limit);
    return '/keys?' + p.toString();
  }

  function load() {
    var mine = ++seq;
    writeURL();
    updateExport();
    return GB.api('GET', query()).then(function (d) {
      if (mine !== seq) return;
      loadError = null;
      data = d;
      fetchedAt = Date.now();
      var pages = Math.max(1, Math.ceil(d.total / d.limit));
      if (d.total > 0 && state.page > pages) { state.page = pages; return load(); }
      render();
    }, function (e) {
      if (mine !== seq) return;
      loadError = e;
      render();
    });
  }

  // ---- rendering --------------------------------------------------------

  function renderCounts() {
    var c = (data && data.counts) || {};
    var all = (c.active || 0) + (c.cooling || 0) + (c.invalid || 0);
    var chips = [['', t('keys.allStatus'), all], ['active', t('status.active'), c.active || 0],
      ['cooling', t('status.cooling'), c.cooling || 0], ['invalid', t('status.invalid'), c.invalid || 0]];
    GB.fill(GB.$('counts'), chips.map(function (ch) {
      return el('button', {
        type: 'button', class: 'chip' + (ch[0] ? ' chip-' + ch[0] : '') + (state.status === ch[0] ? ' chip-on' : ''),
        onclick: function () { state.status = ch[0]; GB.$('status').value = ch[0]; state.page = 1; load(); }
      }, ch[1], ' ', el('b', {}, GB.num(ch[2])));
    }));
  }

  function cooldownList(k) {
    var list = k.cooldowns || [];
    if (!list.length) return el('span', { class: 'muted' }, '–');
    return el('ul', { class: 'cooldowns' }, list.map(function (c) {
      var until = fetchedAt + (c.seconds_left || 0) * 1000;
      return el('li', {}, el('span', { class: 'mono' }, c.model || t('keys.allModels')), ' ',
        el('span', { class: 'countdown', 'data-until': until, title: GB.time(c.until) }, left(until)));
    }));
  }

  function left(until) {
    var secs = (until - Date.now()) / 1000;
    return secs <= 0 ? t('keys.cooledDown') : GB.span(secs);
  }

  function tick() {
    var list = document.querySelectorAll('.countdown[data-until]');
    for (var i = 0; i < list.length; i++) list[i].textContent = left(Number(list[i].getAttribute('data-until')));
  }

  function row(k) {
    var box = el('input', {
      type: 'checkbox', checked: selected.has(k.id), 'aria-label': t('keys.selectKey', { key: k.key }),
      onchange: function () {
        if (box.checked) selected.set(k.id, k.key); else selected.delete(k.id);
        updateSelection();
      }
    });
    var lastErr = k.last_error || '';
    return el('tr', { class: selected.has(k.id) ? 'sel' : null },
      el('td', { class: 'chk' }, box),
      el('td', {}, el('span', { class: 'mono key' }, k.key), el('div', { class: 'muted small mono', title: t('keys.id') }, k.id)),
      el('td', {}, GB.badge(k.status), k.reason ? el('div', { class: 'small reason' }, k.reason) : null),
      el('td', {}, cooldownList(k)),
      el('td', { class: 'num', title: t('keys.failuresTip') },
        el('span', { class: k.consecutive_failures ? 'bad' : '' }, GB.num(k.consecutive_failures)), ' / ', GB.num(k.total_failures)),
      el('td', { class: 'num', title: t('keys.callsTip', { n: GB.num(k.calls) }) }, GB.num(k.calls_24h)),
      el('td', { title: GB.time(k.last_used_at) }, GB.ago(k.last_used_at)),
      el('td', { class: 'lasterr' }, lastErr ? el('button', {
        type: 'button', class: 'linkish small', title: lastErr,
        onclick: function () { GB.modal(t('col.lastError') + ' · ' + k.key, el('pre', { class: 'code-block' }, lastErr)); }
      }, lastErr.length > 80 ? lastErr.slice(0, 80) + '…' : lastErr) : el('span', { class: 'muted' }, '–')),
      el('td', { class: 'small' }, GB.has('source.' + k.source) ? t('source.' + k.source) : k.source,
        el('div', { class: 'muted small nowrap', title: GB.time(k.created_at) }, t('keys.added', { time: GB.ago(k.created_at) }))));
  }

  function render() {
    renderCounts();
    var body = GB.$('keys-body');
    if (loadError) {
      GB.fill(body, el('tr', {}, el('td', { colspan: 9 }, GB.errorBox(loadError))));
      GB.clear(GB.$('pager'));
      return;
    }
    if (!data) return;
    if (!data.keys.length) {
      GB.fill(body, el('tr', {}, el('td', { colspan: 9, class: 'empty' }, state.q || state.status ? t('keys.noMatch') : t('keys.none'))));
    } else {
      GB.fill(body, data.keys.map(row));
    }
    GB.pager(GB.$('pager'), data.page, data.limit, data.total, function (p) { state.page = p; load(); });
    updateSelection();
  }

  function updateSelection() {
    var n = selected.size;
    GB.$('sel-count').textContent = n ? t('keys.selected', { n: GB.num(n) }) : t('keys.noneSelected');
    ['act-check', 'act-reset', 'act-copy', 'act-delete', 'act-clear'].forEach(function (id) { GB.$(id).disabled = busy || n === 0; });
    ['act-check-invalid', 'act-reset-all', 'add-submit'].forEach(function (id) { GB.$(id).disabled = busy; });
    var page = (data && data.keys) || [];
    var on = page.filter(function (k) { return selected.has(k.id); }).length;
    var all = GB.$('sel-page');
    all.checked = page.length > 0 && on === page.length;
    all.indeterminate = on > 0 && on < page.length;
    var rows = GB.$('keys-body').querySelectorAll('tr');
    for (var i = 0; i < rows.length && i < page.length; i++) rows[i].classList.toggle('sel', selected.has(page[i].id));
  }

  function updateExport() {
    var a = GB.$('export');
    a.href = GB.apiURL('/keys/export?format=text' + (state.status ? '&status=' + encodeURIComponent(state.status) : ''));
    a.textContent = state.status ? t('keys.exportStatus', { status: t('status.' + state.status) }) : t('keys.export');
    a.title = t('keys.exportTip');
  }

  // ---- results ----------------------------------------------------------

  function showResult(node) { GB.fill(GB.$('result'), node); }

  function fail(e) {
    showResult(GB.errorBox(e));
    GB.toast(GB.errorText(e), 'error');
  }

  function setBusy(b) {
    busy = b;
    updateSelection();
  }

  // ---- actions ----------------------------------------------------------

  function addKeys() {
    var text = GB.$('add-text').value;
    var box = GB.$('add-result');
    if (!text.trim() || (ANY_SHAPE && !keysIn(text).length)) { GB.fill(box, GB.alertBox('warn', t('keys.addEmpty'))); return; }
    setBusy(true);
    GB.api('POST', '/keys', ANY_SHAPE ? { keys: keysIn(text) } : { text: text }).then(function (r) {
      var parts = [t('keys.addedN', { n: GB.num(r.added) }), t('keys.dupN', { n: GB.num(r.duplicates) }),
        t('keys.rejectedN', { n: GB.num((r.rejected || []).length) })];
      var out = [GB.alertBox(r.added ? 'ok' : 'warn', parts.join(' · '))];
      if (!r.persisted && r.added) out.push(GB.alertBox('warn', t('keys.notPersisted')));
      if (r.rejected && r.rejected.length) {
        out.push(el('details', { class: 'details' }, el('summary', {}, t('keys.rejectedList')),
          el('ul', { class: 'mono small' }, r.rejected.map(function (x) { return el('li', {}, x); }))));
      }
      GB.fill(box, out);
      if (r.added || r.duplicates) { GB.$('add-text').value = ''; foundCount(); }
      GB.toast(parts[0]);
      return load();
    }, function (e) { GB.fill(box, GB.errorBox(e)); }).then(function () { setBusy(false); });
  }

  function foundCount() {
    var n = keysIn(GB.$('add-text').value).length;
    GB.$('add-found').textContent = GB.$('add-text').value ? t('keys.foundN', { n: n }) : '';
  }

  function progress(done, total) {
    GB.$('progress').hidden = false;
    var bar = GB.$('progress-bar');
    bar.max = Math.max(1, total);
    bar.value = done;
    GB.$('progress-text').textContent = t('keys.progress', { n: GB.num(done), m: GB.num(total) });
  }

  // checkIDs re-checks keys in batches of 50, showing progress.
  function checkIDs(ids) {
    if (!ids.length) { showResult(GB.alertBox('ok', t('keys.nothingToCheck'))); return Promise.resolve(); }
    stopRequested = false;
    setBusy(true);
    var done = 0, valid = 0, failed = [], unknown = [];
    progress(0, ids.length);
    function next(i) {
      if (i >= ids.length || stopRequested) return Promise.resolve();
      var batch = ids.slice(i, i + BATCH);
      return GB.api('POST', '/keys/check', { keys: batch }).then(function (r) {
        done += batch.length;
        valid += r.valid || 0;
        (r.results || []).forEach(function (x) { if (!x.valid) failed.push(x); });
        unknown = unknown.concat(r.unknown || []);
        progress(done, ids.length);
        return next(i + BATCH);
      });
    }
    return next(0).then(function () {
      var out = [GB.alertBox(failed.length ? 'warn' : 'ok',
        (stopRequested ? t('keys.checkStopped') + ' ' : '') +
        t('keys.checkDone', { n: GB.num(done), valid: GB.num(valid), bad: GB.num(failed.length) }))];
      if (failed.length) {
        out.push(el('details', { class: 'details', open: failed.length <= 10 }, el('summary', {}, t('keys.checkFailed')),
          el('ul', { class: 'small' }, failed.map(function (x) {
            return el('li', {}, el('span', { class: 'mono' }, x.key), ' — ', x.status ? 'HTTP ' + x.status + ' ' : '', x.reason || '');
          }))));
      }
      if (unknown.length) out.push(GB.alertBox('warn', t('keys.unknown', { list: unknown.join(', ') })));
      showResult(out);
    }, fail).then(function () {
      GB.$('progress').hidden = true;
      setBusy(false);
      return load();
    });
  }

  // allIDs collects the ids of every key with a status, page by page.
  function allIDs(status) {
    var ids = [];
    function page(p) {
      return GB.api('GET', '/keys?status=' + status + '&limit=1000&page=' + p).then(function (d) {
        d.keys.forEach(function (k) { ids.push(k.id); });
        if (d.keys.length && ids.length < d.total) return page(p + 1);
        return ids;
      });
    }
    return page(1);
  }

  function checkInvalid() {
    setBusy(true);
    GB.$('progress').hidden = false;
    GB.$('progress-text').textContent = t('keys.collecting');
    allIDs('invalid').then(function (ids) { setBusy(false); return checkIDs(ids); }, function (e) {
      GB.$('progress').hidden = true;
      setBusy(false);
      fail(e);
    });
  }

  function reset(ids) {
    if (!ids && !confirm(t('keys.confirmResetAll'))) return;
    setBusy(true);
    GB.api('POST', '/keys/reset', ids ? { keys: ids } : {}).then(function (r) {
      var out = [GB.alertBox('ok', t('keys.resetDone', { n: GB.num(r.reset) }))];
      if (r.unknown && r.unknown.length) out.push(GB.alertBox('warn', t('keys.unknown', { list: r.unknown.join(', ') })));
      showResult(out);
      GB.toast(t('keys.resetDone', { n: GB.num(r.reset) }));
    }, fail).then(function () { setBusy(false); load(); });
  }

  function del() {
    var ids = Array.from(selected.keys());
    if (!confirm(t('keys.confirmDelete', { n: GB.num(ids.length) }))) return;
    setBusy(true);
    GB.api('DELETE', '/keys', { keys: ids }).then(function (r) {
      var out = [GB.alertBox('ok', t('keys.deleted', { n: GB.num(r.deleted) }))];
      if (r.from_caddyfile) out.push(GB.alertBox('warn', t('keys.fromCaddyfile', { n: GB.num(r.from_caddyfile) })));
      var missing = (r.not_found || []).concat(r.ambiguous || []);
      if (missing.length) out.push(GB.alertBox('warn', t('keys.unknown', { list: missing.join(', ') })));
      showResult(out);
      GB.toast(t('keys.deleted', { n: GB.num(r.deleted) }));
      selected.clear();
    }, fail).then(function () { setBusy(false); load(); });
  }

  function copySelected() {
    var text = Array.from(selected.values()).join('\n');
    GB.copy(text, t('keys.copied', { n: GB.num(selected.size) }));
  }

  GB.register('keys', function () {
    if (ANY_SHAPE) {
      GB.$('add-help').setAttribute('data-i18n', 'keys.addHelpAny');
      GB.$('add-text').setAttribute('data-i18n-placeholder', 'keys.addPlaceholderAny');
      GB.applyI18n(GB.$('add-panel'));
    }
    readURL();
    GB.$('q').value = state.q;
    GB.$('status').value = state.status;
    GB.$('limit').value = String(state.limit);
    GB.$('q').addEventListener('input', GB.debounce(function () {
      state.q = GB.$('q').value.trim();
      state.page = 1;
      load();
    }, 300));
    GB.$('status').addEventListener('change', function () { state.status = GB.$('status').value; state.page = 1; load(); });
    GB.$('limit').addEventListener('change', function () { state.limit = parseInt(GB.$('limit').value, 10); state.page = 1; load(); });
    GB.$('refresh').addEventListener('click', load);
    GB.$('add-toggle').addEventListener('click', function () {
      var p = GB.$('add-panel');
      p.hidden = !p.hidden;
      if (!p.hidden) GB.$('add-text').focus();
    });
    GB.$('add-text').addEventListener('input', GB.debounce(foundCount, 150));
    GB.$('add-submit').addEventListener('click', addKeys);
    GB.$('sel-page').addEventListener('change', function () {
      var on = GB.$('sel-page').checked;
      ((data && data.keys) || []).forEach(function (k) { if (on) selected.set(k.id, k.key); else selected.delete(k.id); });
      var boxes = GB.$('keys-body').querySelectorAll('td.chk input');
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = on;
      updateSelection();
    });
    GB.$('act-check').addEventListener('click', function () { checkIDs(Array.from(selected.keys())); });
    GB.$('act-check-invalid').addEventListener('click', checkInvalid);
    GB.$('act-reset').addEventListener('click', function () { reset(Array.from(selected.keys())); });
    GB.$('act-reset-all').addEventListener('click', function () { reset(null); });
    GB.$('act-delete').addEventListener('click', del);
    GB.$('act-copy').addEventListener('click', copySelected);
    GB.$('act-clear').addEventListener('click', function () {
      selected.clear();
      var boxes = GB.$('keys-body').querySelectorAll('td.chk input');
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = false;
      updateSelection();
    });
    GB.$('progress-stop').addEventListener('click', function () { stopRequested = true; });
    GB.onLang(function () { render(); updateExport(); foundCount(); });
    setInterval(tick, 1000);
    updateExport();
    updateSelection();
    load();
  });
})();
