// core.js: what every console page shares — language, API calls, DOM
// helpers, formatting, toasts, the modal and the clipboard.
(function () {
  'use strict';

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute('content') : '';
  }

  var GB = {
    prefix: meta('gb-prefix'),
    pool: meta('gb-pool'),
    ownPool: meta('gb-own-pool') || meta('gb-pool'),
    provider: meta('gb-provider') || 'gemini',
    page: meta('gb-page'),
    imagePath: meta('gb-image-path') || '/gb-images/',
    csrf: meta('csrf-token'),
    pages: {},
    langHooks: []
  };
  window.GB = GB;

  // ---- language ---------------------------------------------------------

  var DICT = window.GB_I18N || {};
  var LANGS = ['en', 'zh'];

  function initialLang() {
    var saved = null;
    try { saved = localStorage.getItem('gb_lang'); } catch (e) { /* private mode */ }
    if (LANGS.indexOf(saved) >= 0) return saved;
    var nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
    return /^zh/i.test(nav) ? 'zh' : 'en';
  }
  GB.lang = initialLang();

  // t translates key, filling {name} from params.
  GB.t = function (key, params) {
    var entry = DICT[key];
    var s;
    if (!entry) {
      if (window.console) console.warn('gemini_balance console: no text for', key);
      s = key;
    } else {
      s = entry[GB.lang === 'zh' ? 1 : 0] || entry[0];
    }
    if (params) {
      s = s.replace(/\{(\w+)\}/g, function (m, name) {
        return params[name] === undefined || params[name] === null ? m : String(params[name]);
      });
    }
    return s;
  };
  GB.has = function (key) { return Object.prototype.hasOwnProperty.call(DICT, key); };

  // applyI18n translates the static markup: data-i18n (text),
  // data-i18n-placeholder, data-i18n-title and data-i18n-aria-label;
  // data-arg-* attributes fill the text's {placeholders}.
  GB.applyI18n = function (root) {
    root = root || document;
    var i, n, nodes;
    nodes = root.querySelectorAll('[data-i18n]');
    for (i = 0; i < nodes.length; i++) {
      n = nodes[i];
      var params = {};
      for (var a = 0; a < n.attributes.length; a++) {
        var at = n.attributes[a];
        if (at.name.indexOf('data-arg-') === 0) params[at.name.slice(9)] = at.value;
      }
      if (GB.has(n.getAttribute('data-i18n'))) n.textContent = GB.t(n.getAttribute('data-i18n'), params);
    }
    [['data-i18n-placeholder', 'placeholder'], ['data-i18n-title', 'title'], ['data-i18n-aria-label', 'aria-label']].forEach(function (p) {
      var list = root.querySelectorAll('[' + p[0] + ']');
      for (var j = 0; j < list.length; j++) {
        var key = list[j].getAttribute(p[0]);
        if (GB.has(key)) list[j].setAttribute(p[1], GB.t(key));
      }
    });
  };

  GB.setLang = function (lang) {
    if (LANGS.indexOf(lang) < 0) return;
    GB.lang = lang;
    try { localStorage.setItem('gb_lang', lang); } catch (e) { /* ignore */ }
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    GB.applyI18n(document);
    GB.langHooks.forEach(function (f) { f(); });
  };
  GB.onLang = function (f) { GB.langHooks.push(f); };

  // ---- DOM helpers ------------------------------------------------------

  GB.$ = function (id) { return document.getElementById(id); };

  // el builds an element: el('td', {class: 'num', title: 'x'}, child, 'text', ...).
  // Children are nodes or text; text is never parsed as HTML.
  GB.el = function (tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') e.textContent = v;
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else if (k === 'checked' || k === 'disabled' || k === 'value' || k === 'selected' || k === 'hidden') e[k] = v;
        else e.setAttribute(k, v === true ? '' : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  };
  function append(e, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(e, x); }); return; }
    e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  GB.clear = function (e) { while (e.firstChild) e.removeChild(e.firstChild); return e; };
  GB.fill = function (e) {
    GB.clear(e);
    for (var i = 1; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  };

  GB.debounce = function (f, ms) {
    var timer;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { f.apply(self, args); }, ms);
    };
  };

  // g reads a field written either as a Go name (KeyMasked), in snake case
  // (key_masked) or in camel case (keyMasked).
  GB.g = function (o, name) {
    if (!o) return undefined;
    if (o[name] !== undefined) return o[name];
    var snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
    if (o[snake] !== undefined) return o[snake];
    var camel = name.charAt(0).toLowerCase() + name.slice(1);
    if (o[camel] !== undefined) return o[camel];
    if (name === 'ID' && o.id !== undefined) return o.id;
    return undefined;
  };

  // ---- formatting -------------------------------------------------------

  GB.num = function (n) {
    if (n === undefined || n === null || n === '') return '–';
    return Number(n).toLocaleString(GB.lang === 'zh' ? 'zh-CN' : 'en-US');
  };
  GB.pct = function (part, whole) {
    if (!whole) return '–';
    return (100 * part / whole).toFixed(part && part < whole / 100 ? 2 : 1) + '%';
  };
  // bytes shows a size in binary units: 512 B, 1.5 KiB, 20 MiB.
  GB.bytes = function (n) {
    if (n === undefined || n === null || n === '') return '–';
    n = Number(n);
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    var digits = i === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
    return Number(n.toFixed(digits)).toLocaleString(GB.lang === 'zh' ? 'zh-CN' : 'en-US') + ' ' + units[i];
  };
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  GB.parseTime = function (v) {
    if (!v) return null;
    var d = new Date(v);
    if (isNaN(d.getTime()) || d.getFullYear() < 1971) return null;
    return d;
  };
  // time shows a moment in local time, as 2026-01-02 15:04:05.
  GB.time = function (v) {
    var d = GB.parseTime(v);
    if (!d) return '–';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };
  // span shows a number of seconds as "1 h 5 min", "42 s".
  GB.span = function (secs) {
    secs = Math.max(0, Math.round(secs));
    if (secs < 60) return GB.t('time.s', { n: secs });
    var m = Math.floor(secs / 60), s = secs % 60;
    if (m < 60) return s ? GB.t('time.ms', { m: m, s: s }) : GB.t('time.m', { n: m });
    var h = Math.floor(m / 60);
    m = m % 60;
    if (h < 48) return m ? GB.t('time.hm', { h: h, m: m }) : GB.t('time.h', { n: h });
    return GB.t('time.d', { n: Math.floor(h / 24) });
  };
  // goSpan shows a Go duration ("168h0m0s") as span does, or as it is
  // when it cannot be read.
  GB.goSpan = function (d) {
    if (!d) return '–';
    var m = String(d).match(/^(\d+h)?(\d+m)?(\d+(?:\.\d+)?s)?$/);
    if (!m || d === '0s') return d;
    var secs = (parseInt(m[1] || '0', 10) * 3600) + (parseInt(m[2] || '0', 10) * 60) + parseFloat(m[3] || '0');
    return GB.span(secs);
  };
  // ago shows how long ago a moment was.
  GB.ago = function (v) {
    var d = GB.parseTime(v);
    if (!d) return GB.t('time.never');
    var secs = (Date.now() - d.getTime()) / 1000;
    if (secs < 5) return GB.t('time.justNow');
    return GB.t('time.ago', { span: GB.span(secs) });
  };

  // ---- API --------------------------------------------------------------

  function ApiError(status, message, fields, data) {
    this.name = 'ApiError';
    this.status = status;
    this.message = message;
    this.fields = fields || null;
    this.data = data || null;
  }
  ApiError.prototype = Object.create(Error.prototype);
  GB.ApiError = ApiError;

  // poolURL is the console API URL of a route of pool ("" for the list of
  // pools).
  GB.poolURL = function (pool, path) {
    return GB.prefix + '/api/pools' + (pool ? '/' + encodeURIComponent(pool) : '') + (path || '');
  };
  GB.apiURL = function (path) { return GB.poolURL(GB.pool, path); };

  // keepPool adds the managed pool to a page's query when it is not the
  // console's own, so a reload or a shared link manages the same pool.
  GB.keepPool = function (params) {
    if (GB.pool && GB.pool !== GB.ownPool) params.set('pool', GB.pool);
    return params;
  };

  // api calls the pool's admin route path ("/keys?page=2"); it resolves with
  // the JSON answer or rejects with an ApiError carrying the server's own
  // error text (and its per-field messages).
  GB.api = function (method, path, body) { return GB.request(method, GB.apiURL(path), body); };
  // apiFor calls a route of another pool of the chain.
  GB.apiFor = function (pool, method, path, body) { return GB.request(method, GB.poolURL(pool, path), body); };

  GB.request = function (method, url, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET' && method !== 'HEAD') opts.headers['X-CSRF-Token'] = GB.csrf;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (resp.status === 401) {
          GB.toLogin();
          throw new ApiError(401, (data && data.error) || GB.t('err.session'));
        }
        if (!resp.ok) {
          var msg = data && data.error ? data.error :
            GB.t('err.http', { status: resp.status + ' ' + resp.statusText, body: text.slice(0, 200) || '–' });
          throw new ApiError(resp.status, msg, data && data.fields, data);
        }
        if (data === null && text) throw new ApiError(resp.status, GB.t('err.notJSON', { body: text.slice(0, 200) }));
        return data;
      });
    }, function (err) {
      throw new ApiError(0, GB.t('err.network', { detail: err && err.message ? err.message : String(err) }));
    });
  };

  GB.toLogin = function () {
    var next = location.pathname.slice(GB.prefix.length) + location.search;
    location.href = GB.prefix + '/login?next=' + encodeURIComponent(next || '/');
  };

  // errorText is the whole story of an error: the server's message and the
  // message of each field.
  GB.errorText = function (err) {
    if (!err) return '';
    var s = err.message || String(err);
    if (err.status === 503 && !/database/i.test(s)) s = GB.t('err.database') + ' ' + s;
    if (err.fields) {
      Object.keys(err.fields).sort().forEach(function (k) { s += '\n' + k + ': ' + err.fields[k]; });
    }
    return s;
  };

  // alertBox makes an alert block; kind is ok, warn or error.
  GB.alertBox = function (kind, content) {
    return GB.el('div', { class: 'alert alert-' + kind, role: kind === 'error' ? 'alert' : 'status' }, content);
  };
  GB.errorBox = function (err) {
    return GB.alertBox('error', GB.el('span', { class: 'pre-line' }, GB.errorText(err)));
  };

  // ---- toasts, modal, clipboard ----------------------------------------

  GB.toast = function (msg, kind) {
    var box = GB.$('toasts');
    if (!box) return;
    var t = GB.el('div', { class: 'toast toast-' + (kind || 'ok'), role: 'status' }, msg);
    box.appendChild(t);
    setTimeout(function () { t.classList.add('toast-out'); }, kind === 'error' ? 8000 : 3500);
    setTimeout(function () { if (t.parentNode) t.parentNode.removeChild(t); }, kind === 'error' ? 8600 : 4100);
  };

  GB.modal = function (title, body) {
    var d = GB.$('modal');
    GB.fill(GB.$('modal-title'), title);
    GB.fill(GB.$('modal-body'), body);
    if (typeof d.showModal === 'function') { if (!d.open) d.showModal(); } else d.setAttribute('open', '');
    return d;
  };
  GB.closeModal = function () {
    var d = GB.$('modal');
    if (!d) return;
    if (typeof d.close === 'function') d.close(); else d.removeAttribute('open');
  };

  // copyText works over plain HTTP too, where navigator.clipboard is absent.
  GB.copyText = function (text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  };
  function fallbackCopy(text) {
    return new Promise(function (resolve, reject) {
      var ta = GB.el('textarea', { class: 'offscreen', readonly: true });
      ta.value = text;
      (GB.$('modal') && GB.$('modal').open ? GB.$('modal') : document.body).appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.parentNode.removeChild(ta);
      if (ok) resolve(); else reject(new Error(GB.t('err.copy')));
    });
  }
  // copy copies text and says so; where the browser refuses, it shows the
  // text selected in the modal to copy by hand.
  GB.copy = function (text, doneMsg) {
    return GB.copyText(text).then(function () { GB.toast(doneMsg || GB.t('common.copied')); }, function (e) {
      var ta = GB.el('textarea', { class: 'mono', rows: Math.min(16, text.split('\n').length + 1), readonly: true });
      ta.value = text;
      GB.modal(GB.t('common.copyManual'), [GB.el('p', { class: 'muted' }, e.message), ta]);
      ta.focus();
      ta.select();
    });
  };
  GB.copyButton = function (getText, labelKey) {
    return GB.el('button', {
      type: 'button', class: 'btn btn-small', text: GB.t(labelKey || 'common.copy'),
      onclick: function () { GB.copy(getText()); }
    });
  };

  // pager draws page links into box; go(page) is called on a click.
  GB.pager = function (box, page, limit, total, go) {
    var pages = Math.max(1, Math.ceil(total / limit));
    function btn(label, p, disabled) {
      return GB.el('button', { type: 'button', class: 'btn btn-small', disabled: disabled, onclick: function () { go(p); } }, label);
    }
    var jump = GB.el('input', { type: 'number', min: 1, max: pages, value: page, class: 'page-input', 'aria-label': GB.t('pager.page') });
    jump.addEventListener('change', function () {
      var p = Math.min(pages, Math.max(1, parseInt(jump.value, 10) || 1));
      go(p);
    });
    GB.fill(box,
      btn('«', 1, page <= 1), btn('‹', page - 1, page <= 1),
      GB.el('span', { class: 'pager-info' }, GB.t('pager.before'), ' ', jump, ' ', GB.t('pager.of', { pages: GB.num(pages) })),
      btn('›', page + 1, page >= pages), btn('»', pages, page >= pages),
      GB.el('span', { class: 'muted small' }, GB.t('pager.total', { n: GB.num(total) })));
  };

  GB.badge = function (status) {
    return GB.el('span', { class: 'badge badge-' + status }, GB.has('status.' + status) ? GB.t('status.' + status) : status);
  };

  // page registers the code of one page.
  GB.register = function (name, init) { GB.pages[name] = init; };

  document.addEventListener('DOMContentLoaded', function () {
    document.documentElement.lang = GB.lang === 'zh' ? 'zh-CN' : 'en';
    var sel = GB.$('lang');
    if (sel) {
      sel.value = GB.lang;
      sel.addEventListener('change', function () { GB.setLang(sel.value); });
    }
    GB.applyI18n(document);
    var out = GB.$('logout');
    if (out) {
      out.addEventListener('click', function () {
        out.disabled = true;
        fetch(GB.prefix + '/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': GB.csrf } })
          .then(function (resp) {
            if (resp.ok || resp.status === 401) { location.href = GB.prefix + '/login'; return; }
            return resp.json().then(function (d) { throw new Error(d.error); });
          })
          .catch(function (e) { out.disabled = false; GB.toast(GB.t('err.logout', { detail: e.message }), 'error'); });
      });
    }
    var close = GB.$('modal-close');
    if (close) close.addEventListener('click', GB.closeModal);
    var m = GB.$('modal');
    if (m) m.addEventListener('click', function (e) { if (e.target === m) GB.closeModal(); });
    var init = GB.pages[GB.page];
    if (init) init();
  });
})();
