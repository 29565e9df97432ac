// login.js: the login page. Opened inside another site's frame, it hides
// the form (the session cookie would not reach the console from there, and
// a framed form invites clickjacking) and offers to open itself in a tab.
(function () {
  'use strict';
  GB.register('login', function () {
    var framed;
    try { framed = window.top !== window.self; } catch (e) { framed = true; }
    if (!framed) return;
    GB.$('login-form').hidden = true;
    GB.$('framed').hidden = false;
    GB.$('framed-link').href = location.href.split('#')[0];
  });
})();
