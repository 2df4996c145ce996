// The connection graph page: draws /api/graph with cytoscape, follows /api/events (SSE),
// and sends mode switches and rule deletions with the token as a Bearer header.
/* global cytoscape */
(() => {
  var MODE_COLOURS = { learn: '#2f6fd6', monitor: '#e08a00', protect: '#2a9d4b' };
  // firstSeen: when each violation edge was first drawn (ms since the epoch), for the tests' figures.
  var state = { token: '', ready: false, graphs: 0, violations: 0, firstSeen: {} };
  window.tollgate = state;

  // The token arrives in the URL fragment (never sent to the server) and stays in this tab.
  var m = /(?:^|[#&])token=([0-9a-f]{64})/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('tollgate-token', m[1]);
    history.replaceState(null, '', location.pathname);
  }
  state.token = sessionStorage.getItem('tollgate-token') || '';
  var tokenBox = document.getElementById('token-box');
  var tokenInput = document.getElementById('token');
  if (!state.token) tokenBox.hidden = false;
  tokenInput.addEventListener('change', () => {
    state.token = tokenInput.value.trim();
    sessionStorage.setItem('tollgate-token', state.token);
  });

  var cy = cytoscape({
    container: document.getElementById('cy'),
    wheelSensitivity: 0.3,
    style: [
      {
        selector: 'node',
        style: {
          label: 'data(label)',
          'text-wrap': 'wrap',
          'text-valign': 'center',
          'text-halign': 'center',
          color: '#fff',
          'font-size': 12,
          width: 92,
          height: 50,
          shape: 'round-rectangle',
          'background-color': 'data(colour)',
        },
      },
      {
        selector: 'node[kind = "cidr"]',
        style: { shape: 'ellipse', 'background-color': '#8a93a3', width: 110, height: 40 },
      },
      {
        selector: 'edge',
        style: {
          width: 2,
          'curve-style': 'bezier',
          'target-arrow-shape': 'triangle',
          label: 'data(label)',
          'font-size': 10,
          'text-background-color': '#f6f7f9',
          'text-background-opacity': 1,
          'text-rotation': 'autorotate',
          'line-color': '#6b7a90',
          'target-arrow-color': '#6b7a90',
        },
      },
      {
        selector: 'edge[kind = "violation"]',
        style: {
          'line-color': '#d62828',
          'target-arrow-color': '#d62828',
          'line-style': 'dashed',
          color: '#d62828',
          width: 3,
        },
      },
      { selector: ':selected', style: { 'overlay-opacity': 0.15 } },
    ],
  });
  window.cy = cy;

  function nodeData(n) {
    var label = n.kind === 'group' ? `${n.name}\n[${n.mode || 'not local'}]` : n.name;
    return {
      id: n.id,
      kind: n.kind,
      name: n.name,
      mode: n.mode || '',
      label: label,
      colour: MODE_COLOURS[n.mode] || '#555d6b',
    };
  }

  function edgeData(e) {
    var l4 = e.proto + (e.port ? `/${e.port}` : '');
    var label = e.kind === 'rule' ? `${l4} · ${e.hits} hits` : `✗ ${l4} ×${e.count} (${e.action})`;
    var d = { id: e.id, kind: e.kind, source: e.source, target: e.target, label: label, proto: e.proto, port: e.port };
    if (e.kind === 'rule') {
      d.ruleId = e.ruleId;
      d.origin = e.origin;
      d.hits = e.hits;
    } else {
      d.count = e.count;
      d.action = e.action;
    }
    return d;
  }

  // Updates elements in place: existing nodes keep their position, new ones get a layout.
  function apply(graph) {
    var want = {};
    var added = false;
    graph.nodes.forEach((n) => {
      want[n.id] = true;
      var el = cy.getElementById(n.id);
      if (el.length) el.data(nodeData(n));
      else {
        cy.add({ group: 'nodes', data: nodeData(n) });
        added = true;
      }
    });
    graph.edges.forEach((e) => {
      upsertEdge(e);
      want[e.id] = true;
    });
    cy.elements().forEach((el) => {
      if (!want[el.id()]) el.remove();
    });
    if (added) cy.layout({ name: 'circle', padding: 60, animate: false }).run();
    state.graphs++;
    state.ready = true;
  }

  function upsertEdge(e) {
    var el = cy.getElementById(e.id);
    if (el.length) el.data(edgeData(e));
    else if (cy.getElementById(e.source).length && cy.getElementById(e.target).length) {
      cy.add({ group: 'edges', data: edgeData(e) });
      if (e.kind === 'violation' && !state.firstSeen[e.id]) state.firstSeen[e.id] = Date.now();
    }
  }

  function addViolationLine(e) {
    var li = document.createElement('li');
    li.textContent =
      new Date().toLocaleTimeString() +
      ' ' +
      e.source.slice(2) +
      ' → ' +
      e.target.slice(2) +
      ' ' +
      e.proto +
      '/' +
      e.port +
      ' ' +
      e.action;
    var ul = document.getElementById('violations');
    ul.insertBefore(li, ul.firstChild);
    while (ul.children.length > 20) ul.removeChild(ul.lastChild);
  }

  var statusEl = document.getElementById('status');
  var es = new EventSource('/api/events');
  es.addEventListener('graph', (ev) => {
    apply(JSON.parse(ev.data));
    statusEl.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  });
  es.addEventListener('violation', (ev) => {
    var e = JSON.parse(ev.data);
    // A violation between nodes not drawn yet waits for the next graph event, which carries it.
    upsertEdge(e);
    state.violations++;
    addViolationLine(e);
  });
  es.onerror = () => {
    statusEl.textContent = 'disconnected: retrying…';
  };

  var message = document.getElementById('message');
  function say(text, error) {
    message.textContent = text;
    message.className = error ? 'error' : '';
  }

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
      body: body ? JSON.stringify(body) : undefined,
    }).then((r) =>
      r.json().then((j) => {
        if (!r.ok) {
          if (r.status === 401) tokenBox.hidden = false;
          throw new Error(j.error || r.statusText);
        }
        return j;
      }),
    );
  }

  var panel = document.getElementById('panel');
  cy.on('tap', 'node[kind = "group"]', (ev) => {
    var n = ev.target.data();
    panel.innerHTML = '';
    var h = document.createElement('h2');
    h.textContent = `Group ${n.name}: ${n.mode || 'not a local group'}`;
    panel.appendChild(h);
    if (!n.mode) return;
    ['learn', 'monitor', 'protect'].forEach((mode) => {
      var b = document.createElement('button');
      b.textContent = mode;
      b.id = `mode-${mode}`;
      b.disabled = mode === n.mode;
      b.addEventListener('click', () => {
        say(`switching ${n.name} to ${mode}…`);
        send('POST', `/api/groups/${encodeURIComponent(n.name)}/mode`, { mode: mode }).then(
          (r) => {
            say(`${n.name}: ${r.from} → ${r.to}`);
            state.lastMode = r;
          },
          (e) => {
            say(`mode switch refused: ${e.message}`, true);
          },
        );
      });
      panel.appendChild(b);
    });
  });

  cy.on('tap', 'edge[kind = "rule"]', (ev) => {
    var d = ev.target.data();
    var what =
      'rule ' +
      d.ruleId +
      ': ' +
      ev.target.source().data('name') +
      ' → ' +
      ev.target.target().data('name') +
      ' ' +
      d.proto +
      '/' +
      d.port +
      ' (' +
      d.origin +
      ', ' +
      d.hits +
      ' hits)';
    if (!window.confirm(`Delete ${what}?\nIn protect mode the sessions it allowed are cut.`)) return;
    send('DELETE', `/api/rules/${d.ruleId}`).then(
      () => {
        say(`deleted ${what}`);
        state.lastDeleted = d.ruleId;
      },
      (e) => {
        say(`delete refused: ${e.message}`, true);
      },
    );
  });
})();
