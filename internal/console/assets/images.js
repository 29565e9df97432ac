// images.js: the pool's image store — recent images newest first as
// thumbnails with their model, client token (masked by the server), time
// and size; paging; selecting and deleting. The thumbnails are the images
// themselves, served by the same site at its image_path without auth.
(function () {
  'use strict';
  var el = GB.el, t = GB.t;

  var state = { page: 1, limit: 24 };
  var data = null, loadError = null;
  var selected = new Set();
  var lastDeleted = null; // how many the last deletion removed, shown until the next one

  function imageURL(im) { return GB.imagePath + im.name; }

  // ---- loading ----------------------------------------------------------

  function load() {
    var q = '?offset=' + (state.page - 1) * state.limit + '&limit=' + state.limit;
    GB.$('img-refresh').disabled = true;
    return GB.api('GET', '/images' + q).then(function (d) {
      data = d;
      loadError = null;
      // After a deletion the last page may be gone: show the one before.
      if (d.enabled && !d.images.length && d.total > 0 && state.page > 1) {
        state.page = Math.max(1, Math.ceil(d.total / state.limit));
        return load();
      }
      var ids = {};
      d.images.forEach(function (im) { ids[im.id] = true; });
      selected.forEach(function (id) { if (!ids[id]) selected.delete(id); });
    }, function (e) {
      loadError = e;
    }).then(function () {
      GB.$('img-refresh').disabled = false;
      saveState();
      render();
    });
  }

  // saveState keeps the page in the address, so a reload shows the same one.
  function saveState() {
    var p = new URLSearchParams();
    if (state.page > 1) p.set('page', state.page);
    if (state.limit !== 24) p.set('limit', state.limit);
    var qs = p.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : ''));
  }

  function readState() {
    var p = new URLSearchParams(location.search);
    state.page = Math.max(1, parseInt(p.get('page'), 10) || 1);
    var l = parseInt(p.get('limit'), 10);
    if ([12, 24, 48, 96].indexOf(l) >= 0) state.limit = l;
    GB.$('img-limit').value = String(state.limit);
  }

  // ---- rendering --------------------------------------------------------

  function usageText(d) {
    return t('img.usage', {
      n: GB.num(d.count), size: GB.bytes(d.bytes), max: GB.bytes(d.max_bytes), retention: GB.goSpan(d.retention)
    });
  }

  function card(im) {
    var box = el('input', { type: 'checkbox', class: 'img-check', checked: selected.has(im.id), 'aria-label': t('img.selectOne') });
    box.addEventListener('change', function () {
      if (box.checked) selected.add(im.id); else selected.delete(im.id);
      fig.classList.toggle('sel', box.checked);
      updateSelection();
    });
    var fig = el('figure', { class: 'img-card' + (selected.has(im.id) ? ' sel' : ''), 'data-id': im.id },
      el('a', { class: 'img-thumb', href: imageURL(im), target: '_blank', rel: 'noopener', title: t('img.open') },
        el('img', { src: imageURL(im), alt: t('img.alt', { model: im.model || '–' }), loading: 'lazy', decoding: 'async' })),
      el('figcaption', {},
        el('label', { class: 'inline img-pick' }, box, el('span', { class: 'img-model mono' }, im.model || '–')),
        el('div', { class: 'small' }, el('span', { class: 'muted' }, t('img.token'), ' '),
          el('span', { class: 'img-token mono' }, im.token || t('img.noToken'))),
        el('div', { class: 'small muted' },
          el('time', { class: 'img-time', datetime: im.created, title: GB.ago(im.created) }, GB.time(im.created)), ' · ',
          el('span', { class: 'img-size' }, GB.bytes(im.size)), ' · ', el('span', { class: 'img-mime' }, im.mime))));
    return fig;
  }

  function offBox() {
    return GB.alertBox('warn', el('div', { class: 'img-off' },
      el('b', {}, t('img.off')), ' ', t('img.offHelp'),
      el('pre', { class: 'code-block' }, 'gemini_balance ' + GB.pool + ' {\n\timage_store /var/lib/caddy/gemini_balance/images\n}'),
      el('span', { class: 'small muted' }, t('img.offDefault'))));
  }

  function updateSelection() {
    var btn = GB.$('img-del-sel');
    btn.disabled = selected.size === 0;
    btn.textContent = selected.size ? t('img.deleteSelN', { n: GB.num(selected.size) }) : t('img.deleteSel');
    var list = data && data.images ? data.images : [];
    var on = list.filter(function (im) { return selected.has(im.id); }).length;
    GB.$('img-sel-page').checked = list.length > 0 && on === list.length;
  }

  function render() {
    var status = GB.$('img-status'), main = GB.$('img-main');
    if (loadError) {
      GB.fill(status, GB.errorBox(loadError));
      main.hidden = true;
      return;
    }
    if (!data) { GB.fill(status, el('p', { class: 'muted' }, t('common.loading'))); return; }
    if (!data.enabled) {
      GB.$('img-usage').textContent = '';
      GB.fill(status, offBox());
      main.hidden = true;
      return;
    }
    GB.$('img-usage').textContent = usageText(data);
    main.hidden = false;
    if (lastDeleted !== null) GB.fill(GB.$('img-result'), GB.alertBox('ok', t('img.deleted', { n: GB.num(lastDeleted) })));
    if (!data.images.length) {
      GB.fill(status, el('p', { class: 'empty-state muted', id: 'img-empty' }, t('img.empty')));
      GB.clear(GB.$('img-grid'));
      GB.clear(GB.$('img-pager'));
    } else {
      GB.clear(status);
      GB.fill(GB.$('img-grid'), data.images.map(card));
      GB.pager(GB.$('img-pager'), state.page, state.limit, data.total, function (p) { state.page = p; load(); });
    }
    updateSelection();
  }

  // ---- deleting ---------------------------------------------------------

  function askDelete() {
    var ids = Array.from(selected);
    if (!ids.length) return;
    var cancel = el('button', { type: 'button', class: 'btn', id: 'img-cancel', onclick: GB.closeModal }, t('img.cancel'));
    var ok = el('button', { type: 'button', class: 'btn btn-danger', id: 'img-confirm', onclick: function () {
      ok.disabled = cancel.disabled = true;
      del(ids);
    } }, t('img.deleteN', { n: GB.num(ids.length) }));
    GB.modal(t('img.confirmTitle'), [el('p', {}, t('img.confirm', { n: GB.num(ids.length) })), el('div', { class: 'row' }, ok, cancel)]);
  }

  function del(ids) {
    GB.api('DELETE', '/images', { ids: ids }).then(function (r) {
      GB.closeModal();
      lastDeleted = r.deleted;
      GB.toast(t('img.deleted', { n: GB.num(r.deleted) }));
      selected.clear();
      load();
    }, function (e) {
      GB.closeModal();
      lastDeleted = null;
      GB.fill(GB.$('img-result'), GB.errorBox(e));
      GB.toast(GB.errorText(e), 'error');
    });
  }

  GB.register('images', function () {
    readState();
    GB.$('img-refresh').addEventListener('click', load);
    GB.$('img-del-sel').addEventListener('click', askDelete);
    GB.$('img-limit').addEventListener('change', function () {
      state.limit = parseInt(GB.$('img-limit').value, 10) || 24;
      state.page = 1;
      load();
    });
    GB.$('img-sel-page').addEventListener('change', function () {
      var on = GB.$('img-sel-page').checked;
      (data && data.images || []).forEach(function (im) { if (on) selected.add(im.id); else selected.delete(im.id); });
      render();
    });
    GB.onLang(render);
    render();
    load();
  });
})();
