// settings.js: every option grouped as in the schema, with its help, source
// and default. Each field saves on its own when changed (text areas with
// their own Save button); there is no global save step that could lose work.
(function () {
  'use strict';
  var el = GB.el, t = GB.t;

  var GROUPS = ['keys', 'upstream', 'access', 'models', 'logs'];
  var ORDER = ['max_failures', 'max_retries', 'test_model', 'check_interval',
    'base_url', 'timeout', 'referer', 'proxies', 'headers',
    'allowed_tokens', 'auth_token',
    'search_models', 'image_models', 'thinking_models', 'thinking_budgets', 'filtered_models', 'safety_settings',
    'code_execution', 'url_context', 'show_search_link', 'show_thinking', 'fake_stream', 'fake_stream_interval',
    'model_map', 'retry_empty', 'paid_key', 'image_model', 'image_retention', 'image_store_max_size', 'tts_model', 'tts_voice',
    'log_level', 'error_log_days', 'request_log_days', 'record_request_body'];
  // BYTES are int options counted in bytes: their field also shows the size
  // in KiB, MiB or GiB.
  var BYTES = { image_store_max_size: true };
  var TEXTAREA = { list: true, map: true, budgets: true, modelmap: true, safety: true, json: true };

  var views = null;   // name -> {value, default, source, type, group, help, choices, masked}
  var loadError = null;
  var dirty = {};     // name -> true while a text area holds unsaved text

  // ---- value <-> text ---------------------------------------------------

  function toText(type, v) {
    switch (type) {
      case 'list': return (v || []).join('\n');
      case 'map':
      case 'modelmap':
      case 'budgets': return Object.keys(v || {}).sort().map(function (k) { return k + '=' + v[k]; }).join('\n');
      case 'safety': return (v || []).map(function (x) { return x.category + '=' + x.threshold; }).join('\n');
      case 'bool': return v ? 'true' : 'false';
      case 'secret': return v ? t('set.isSet') : t('set.notSet');
      case 'int': case 'string': case 'duration': case 'enum': return v === null || v === undefined ? '' : String(v);
      default: return JSON.stringify(v, null, 2);
    }
  }

  // short is a one-line form for "saved: a → b" messages.
  function short(type, v) {
    var s = type === 'list' || type === 'map' || type === 'modelmap' || type === 'budgets' || type === 'safety' ? toText(type, v).split('\n').filter(Boolean).join(', ') : toText(type, v);
    if (s === '') s = t('set.empty');
    return s.length > 80 ? s.slice(0, 79) + '…' : s;
  }

  function lines(text) {
    return text.split(/\r?\n/).map(function (l) { return l.trim(); }).filter(function (l) { return l && l.charAt(0) !== '#'; });
  }

  // fromText reads an editor's text; it throws an Error with a message for
  // the field when the text cannot be read.
  function fromText(type, text) {
    var out;
    switch (type) {
      case 'list': return lines(text);
      case 'map':
      case 'modelmap':
      case 'budgets':
        out = {};
        lines(text).forEach(function (l) {
          var i = l.indexOf('=');
          if (i <= 0) throw new Error(t('set.badPair', { line: l }));
          var k = l.slice(0, i).trim(), v = l.slice(i + 1).trim();
          if (type === 'modelmap' && (!k || !v || /\s/.test(k) || /\s/.test(v))) throw new Error(t('set.badModelMap', { line: l }));
          if (type === 'budgets') {
            if (!/^-?\d+$/.test(v)) throw new Error(t('set.badBudget', { line: l }));
            v = parseInt(v, 10);
          }
          out[k] = v;
        });
        return out;
      case 'safety':
        return lines(text).map(function (l) {
          var i = l.indexOf('=');
          if (i <= 0) throw new Error(t('set.badPair', { line: l }));
          return { category: l.slice(0, i).trim(), threshold: l.slice(i + 1).trim() };
        });
      case 'int':
        if (!/^-?\d+$/.test(text.trim())) throw new Error(t('set.badInt'));
        return parseInt(text, 10);
      case 'bool': return text === true || text === 'true';
      case 'string': case 'duration': case 'enum': case 'secret': return text;
      default:
        try { return JSON.parse(text); } catch (e) { throw new Error(t('set.badJSON', { detail: e.message })); }
    }
  }

  // ---- rendering --------------------------------------------------------

  function sortedNames() {
    return Object.keys(views).sort(function (a, b) {
      var ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
      if (ia < 0) ia = 1000;
      if (ib < 0) ib = 1000;
      return ia - ib || (a < b ? -1 : a > b ? 1 : 0);
    });
  }

  function groups() {
    var seen = {};
    var out = GROUPS.filter(function (g) { return sortedNames().some(function (n) { return views[n].group === g; }); });
    out.forEach(function (g) { seen[g] = true; });
    sortedNames().forEach(function (n) {
      var g = views[n].group || 'other';
      if (!seen[g]) { seen[g] = true; out.push(g); }
    });
    return out;
  }

  function sourceBadge(v) {
    var src = v.source || 'default';
    return el('span', { class: 'badge src-' + src, title: t('src.' + src + '.tip') }, t('src.' + src));
  }

  function help(name, v) {
    return GB.has('help.' + name) ? t('help.' + name) : (v.help || '');
  }

  function msgBox(name) { return GB.$('msg-' + name); }

  function fieldMessage(name, kind, text) {
    var box = msgBox(name);
    if (box) GB.fill(box, text ? el('div', { class: 'field-msg-' + kind + ' pre-line' }, text) : null);
  }

  function editor(name, v, locked) {
    var type = v.type;
    var id = 'in-' + name;
    var input, save = null;
    if (type === 'bool') {
      input = el('input', { type: 'checkbox', id: id, checked: !!v.value, disabled: locked, class: 'switch' });
      input.addEventListener('change', function () { patch(name, input.checked); });
      return el('label', { class: 'inline switch-label' }, input, el('span', {}, v.value ? t('set.on') : t('set.off')));
    }
    if (type === 'enum') {
      input = el('select', { id: id, disabled: locked }, (v.choices || []).map(function (c) {
        return el('option', { value: c, selected: c === v.value }, c);
      }));
      input.addEventListener('change', function () { patch(name, input.value); });
      return input;
    }
    if (type === 'secret') {
      input = el('input', { type: 'password', id: id, disabled: locked, autocomplete: 'new-password', placeholder: v.value ? t('set.isSet') : t('set.notSet') });
      input.addEventListener('change', function () {
        if (!input.value) return;
        if (name === 'auth_token' && !confirm(t('set.confirmAuth'))) { input.value = ''; return; }
        patch(name, input.value);
      });
      var clear = v.value && !locked ? el('button', {
        type: 'button', class: 'btn btn-small', text: t('set.clear'),
        onclick: function () {
          if (!confirm(name === 'auth_token' ? t('set.confirmClearAuth') : t('set.confirmClear', { name: name }))) return;
          patch(name, '');
        }
      }) : null;
      return el('div', { class: 'row' }, input, clear);
    }
    if (TEXTAREA[type] || !(type in { int: 1, string: 1, duration: 1 })) {
      var text = toText(type, v.value);
      input = el('textarea', { id: id, rows: Math.min(12, Math.max(3, text.split('\n').length + 1)), disabled: locked, spellcheck: 'false', class: 'mono' });
      input.value = text;
      if (locked) return input;
      save = el('button', { type: 'button', class: 'btn btn-primary btn-small', disabled: true, text: t('set.save') });
      var undo = el('button', { type: 'button', class: 'btn btn-small', disabled: true, text: t('set.undo') });
      var mark = function () {
        dirty[name] = input.value !== text;
        save.disabled = undo.disabled = !dirty[name];
        fieldMessage(name, 'warn', dirty[name] ? t('set.unsaved') : '');
      };
      input.addEventListener('input', mark);
      input.addEventListener('keydown', function (e) {
        if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && dirty[name]) { e.preventDefault(); save.click(); }
      });
      undo.addEventListener('click', function () { input.value = text; mark(); });
      save.addEventListener('click', function () {
        var value;
        try { value = fromText(type, input.value); } catch (e) { fieldMessage(name, 'error', e.message); return; }
        patch(name, value);
      });
      return el('div', { class: 'stack' }, input,
        el('div', { class: 'row' }, save, undo, el('span', { class: 'muted small' }, GB.has('set.format.' + type) ? t('set.format.' + type) : t('set.format.json'))));
    }
    input = el('input', {
      type: type === 'int' ? 'number' : 'text', step: type === 'int' ? 1 : null, id: id, disabled: locked,
      spellcheck: 'false', class: type === 'int' ? 'narrow' : 'wide', placeholder: type === 'duration' ? t('set.durationHint') : null
    });
    input.value = toText(type, v.value);
    input.addEventListener('change', function () {
      var value;
      try { value = fromText(type, input.value); } catch (e) { fieldMessage(name, 'error', e.message); return; }
      patch(name, value);
    });
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') input.blur(); });
    if (BYTES[name]) {
      var size = el('span', { class: 'muted small bytes-hint', id: 'bytes-' + name });
      var show = function () { size.textContent = /^\d+$/.test(input.value.trim()) ? '= ' + GB.bytes(parseInt(input.value, 10)) : ''; };
      input.addEventListener('input', show);
      show();
      return el('span', { class: 'row' }, input, size);
    }
    return input;
  }

  function field(name) {
    var v = views[name];
    var locked = v.source === 'caddyfile';
    var def = v.type === 'secret' ? null : el('div', { class: 'muted small' }, t('set.default'), ' ',
      el('code', {}, short(v.type, v.default)));
    // Secrets come masked (tokens as …abcd, proxy credentials as ***): a
    // masked line saved as shown keeps its value on the server, so editing
    // one line of a list keeps the others.
    var masked = v.masked && v.type !== 'secret' && !locked ? el('div', { class: 'muted small' },
      t('set.maskedHint')) : null;
    return el('div', { class: 'field' + (locked ? ' field-locked' : ''), id: 'f-' + name },
      el('div', { class: 'field-head' },
        el('label', { for: 'in-' + name, class: 'mono field-name' }, name), sourceBadge(v)),
      el('p', { class: 'help' }, help(name, v)),
      el('div', { class: 'field-input' }, editor(name, v, locked)),
      masked,
      def,
      el('div', { class: 'field-msg', id: 'msg-' + name, 'aria-live': 'polite' }));
  }

  function render() {
    var box = GB.$('settings');
    if (loadError) { GB.fill(box, GB.errorBox(loadError)); return; }
    if (!views) return;
    dirty = {};
    var gs = groups();
    GB.fill(GB.$('set-groups'), gs.map(function (g) {
      return el('a', { href: '#group-' + g }, GB.has('group.' + g) ? t('group.' + g) : g);
    }));
    GB.fill(box, gs.map(function (g) {
      return el('section', { class: 'block panel group', id: 'group-' + g },
        el('h2', {}, GB.has('group.' + g) ? t('group.' + g) : g),
        sortedNames().filter(function (n) { return (views[n].group || 'other') === g; }).map(field));
    }));
  }

  function rerenderField(name) {
    var old = GB.$('f-' + name);
    if (old && views[name]) old.parentNode.replaceChild(field(name), old);
    dirty[name] = false;
  }

  // ---- saving -----------------------------------------------------------

  function patch(name, value) {
    var body = {};
    body[name] = value;
    var before = views[name];
    fieldMessage(name, 'muted', t('set.saving'));
    GB.api('PATCH', '/settings', body).then(function (r) {
      if (r.settings) views = r.settings;
      rerenderField(name);
      var msg;
      if ((r.changed || []).indexOf(name) >= 0) {
        msg = before.type === 'secret' ? t('set.savedSecret', { name: name }) :
          t('set.saved', { name: name, from: short(before.type, before.value), to: short(views[name].type, views[name].value) });
      } else {
        msg = t('set.unchanged', { name: name });
      }
      fieldMessage(name, 'ok', msg);
      GB.fill(GB.$('set-status'), GB.alertBox('ok', msg));
      GB.toast(msg);
      if (name === 'auth_token' && (r.changed || []).length) {
        GB.fill(GB.$('set-status'), GB.alertBox('warn', t('set.authChanged')));
        setTimeout(GB.toLogin, 2500);
      }
    }, function (e) {
      var msg = e.fields && e.fields[name] ? e.fields[name] : '';
      if (e.status === 409) msg = t('set.conflict') + (msg ? ' (' + msg + ')' : '');
      fieldMessage(name, 'error', msg ? msg + '\n' + e.message : GB.errorText(e));
      GB.fill(GB.$('set-status'), GB.errorBox(e));
      GB.toast(name + ': ' + (msg || e.message), 'error');
      if (TEXTAREA[views[name].type] === undefined) {
        // a refused value is not in force: show what is
        var input = GB.$('in-' + name);
        if (input && views[name].type !== 'secret' && views[name].type !== 'bool') input.value = toText(views[name].type, views[name].value);
        if (input && views[name].type === 'bool') input.checked = !!views[name].value;
      }
    });
  }

  function load() {
    if (Object.keys(dirty).some(function (k) { return dirty[k]; }) && !confirm(t('set.discard'))) return;
    GB.api('GET', '/settings').then(function (s) { views = s; loadError = null; render(); },
      function (e) { loadError = e; render(); });
  }

  GB.register('settings', function () {
    GB.$('set-refresh').addEventListener('click', load);
    GB.onLang(function () {
      // redraw in the new language, keeping the text not saved yet
      var keep = {};
      Object.keys(dirty).forEach(function (k) { if (dirty[k] && GB.$('in-' + k)) keep[k] = GB.$('in-' + k).value; });
      render();
      Object.keys(keep).forEach(function (k) {
        var input = GB.$('in-' + k);
        if (!input) return;
        input.value = keep[k];
        input.dispatchEvent(new Event('input'));
      });
    });
    window.addEventListener('beforeunload', function (e) {
      if (Object.keys(dirty).some(function (k) { return dirty[k]; })) { e.preventDefault(); e.returnValue = ''; }
    });
    load();
  });
})();
