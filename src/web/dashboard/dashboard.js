// Mission Control dashboard: keeps the page live. The page is complete without this script;
// with it, every event of /api/v1/events/stream makes the panels refresh in place.
//
// The stream resumes where it left off: the first connection asks for the events after the
// page's own (`?since_seq=` the seq the page was rendered at); when the server drops the
// connection the browser reconnects by itself with `Last-Event-ID`; and when the browser gives
// up (the stream errored and closed, or stays down), this script opens a new one after the
// last event it saw, backing off from 1 s to 30 s. A refresh fetches this page again with
// `?min_seq=` (the server answers once its live state has folded that event) and swaps each
// panel, keeping the healthy groups the reader opened.
(function () {
  'use strict';

  var main = document.getElementById('panels');
  var badge = document.getElementById('live');
  if (!main || !badge || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }

  // Every event type the daemon writes; named SSE events reach only listeners of their name.
  var TYPES = [
    'health.changed', 'heartbeat.received', 'probe.failed', 'config.loaded', 'config.rejected',
    'alert.firing', 'alert.resolved', 'alert.delivered', 'alert.delivery_failed',
    'inbox.item_created', 'task.triaged', 'task.split', 'task.assigned', 'task.status_changed',
    'task.blocked', 'mode.changed', 'agent.status_changed', 'usage.recorded', 'cron.run'
  ];
  var MIN_BACKOFF = 1000;
  var MAX_BACKOFF = 30000;
  // How long the browser may try to reconnect by itself before this script starts over.
  var STUCK_AFTER = 10000;

  var lastSeq = Number(main.getAttribute('data-seq')) || 0;
  var wanted = lastSeq;
  var source = null;
  var backoff = MIN_BACKOFF;
  var retryTimer = null;
  var stuckTimer = null;
  var refreshTimer = null;
  var refreshing = false;
  var again = false;

  function show(state, text) {
    badge.setAttribute('data-state', state);
    badge.textContent = text;
    badge.title = state === 'live' ? 'Updates arrive as they happen.' : 'The event stream is down; retrying.';
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (source) {
      source.close();
    }
    var url = '/api/v1/events/stream' + (lastSeq > 0 ? '?since_seq=' + lastSeq : '');
    var es = new EventSource(url);
    source = es;
    es.onopen = function () {
      if (es !== source) return;
      clearTimeout(stuckTimer);
      stuckTimer = null;
      backoff = MIN_BACKOFF;
      show('live', 'live');
      // Whatever happened while the stream was down is in the page fetched now.
      schedule(0);
    };
    es.onerror = function () {
      if (es !== source) return;
      show('reconnecting', 'reconnecting…');
      if (es.readyState === EventSource.CLOSED) {
        retryLater();
      } else if (!stuckTimer) {
        // The browser is reconnecting with Last-Event-ID; start over if it does not get through.
        stuckTimer = setTimeout(function () {
          stuckTimer = null;
          if (es === source && es.readyState !== EventSource.OPEN) {
            retryLater();
          }
        }, STUCK_AFTER);
      }
    };
    TYPES.forEach(function (type) {
      es.addEventListener(type, onEvent);
    });
    es.onmessage = onEvent;
  }

  function retryLater() {
    if (source) {
      source.close();
      source = null;
    }
    if (retryTimer) return;
    var delay = backoff * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, MAX_BACKOFF);
    retryTimer = setTimeout(connect, delay);
  }

  function onEvent(e) {
    var seq = Number(e.lastEventId);
    if (seq > lastSeq) {
      lastSeq = seq;
    }
    schedule(seq);
  }

  // At most one refresh in flight, and at most one every 250 ms.
  function schedule(seq) {
    if (seq > wanted) {
      wanted = seq;
    }
    if (refreshing) {
      again = true;
      return;
    }
    if (!refreshTimer) {
      refreshTimer = setTimeout(refresh, 250);
    }
  }

  function refresh() {
    refreshTimer = null;
    refreshing = true;
    again = false;
    var url = '/mission-control' + (wanted > 0 ? '?min_seq=' + wanted : '');
    fetch(url, { headers: { Accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (response) {
        if (!response.ok) throw new Error('status ' + response.status);
        return response.text();
      })
      .then(swap)
      .catch(function () {
        // Not folded in time, or the daemon is restarting: try again in a second, taking
        // whatever the daemon has then (a log that started over never reaches the old seq).
        wanted = 0;
        again = true;
      })
      .then(function () {
        refreshing = false;
        if (again) {
          refreshTimer = setTimeout(refresh, 1000);
        }
      });
  }

  // Replaces every panel with its new version, keeping open what the reader opened.
  function swap(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    var fresh = doc.getElementById('panels');
    if (!fresh) return;
    var open = {};
    main.querySelectorAll('details[data-key]').forEach(function (d) {
      open[d.getAttribute('data-key')] = d.open;
    });
    var seen = {};
    main.querySelectorAll('#events ol.events li').forEach(function (li) {
      seen[li.getAttribute('data-seq')] = true;
    });
    fresh.querySelectorAll('details[data-key]').forEach(function (d) {
      var key = d.getAttribute('data-key');
      if (key in open) d.open = open[key];
    });
    fresh.querySelectorAll('#events ol.events li').forEach(function (li) {
      if (!seen[li.getAttribute('data-seq')]) li.className = 'fresh';
    });
    Array.prototype.slice.call(fresh.querySelectorAll('section.panel[id]')).forEach(function (panel) {
      var old = document.getElementById(panel.id);
      if (old && main.contains(old)) {
        old.parentNode.replaceChild(document.adoptNode(panel), old);
      }
    });
    main.setAttribute('data-seq', fresh.getAttribute('data-seq') || '');
    document.title = doc.title;
    tick();
  }

  // Keeps "3 min ago" true between refreshes; the same words as the server's.
  function relative(t, now) {
    var seconds = Math.round((now - t) / 1000);
    var span = Math.abs(seconds);
    if (span < 10) return 'just now';
    var amount;
    if (span < 60) amount = span + ' s';
    else if (span < 3600) amount = Math.floor(span / 60) + ' min';
    else if (span < 172800) amount = Math.floor(span / 3600) + ' h';
    else amount = Math.floor(span / 86400) + ' days';
    return seconds >= 0 ? amount + ' ago' : 'in ' + amount;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll('time[datetime] .rel').forEach(function (rel) {
      var t = Date.parse(rel.parentNode.getAttribute('datetime'));
      if (!isNaN(t)) rel.textContent = '(' + relative(t, now) + ')';
    });
  }

  show('reconnecting', 'connecting…');
  connect();
  setInterval(tick, 15000);
  tick();
})();
