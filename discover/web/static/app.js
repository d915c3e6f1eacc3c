/* discover's run view: one script for `discover serve` (polls the JSON endpoints) and `discover report` (reads the
   JSON embedded in the page). Every stored string (code, thoughts, prompts, responses, errors) is inserted as text
   (textContent / text nodes), never as HTML. Chart.js (vendored, static/chart.umd.min.js) draws the scatter. */
(function () {
  'use strict';

  var errBox = document.getElementById('js-errors');
  function noteError(msg) {
    errBox.hidden = false;
    var li = document.createElement('li');
    li.textContent = String(msg);
    errBox.querySelector('ul').appendChild(li);
  }
  window.addEventListener('error', function (e) { noteError(e.message || 'error'); });
  window.addEventListener('unhandledrejection', function (e) { noteError(e.reason && e.reason.message || e.reason); });

  var MODE = document.body.dataset.mode;
  var EMBEDDED = MODE === 'report' ? JSON.parse(document.getElementById('discover-data').textContent) : null;
  var POLL_MS = 2000;
  var COLORS = {
    'valid': '#16a34a', 'screened out': '#94a3b8', 'invalid': '#f59e0b', 'timeout': '#8b5cf6', 'error': '#dc2626',
    'suspicious': '#db2777', 'cancelled': '#64748b', 'rejected': '#6b7280', 'duplicate': '#cbd5e1', 'pending': '#d4d4d8'
  };
  var LINE_COLORS = ['#0ea5e9', '#f97316', '#a855f7', '#14b8a6', '#e11d48', '#65a30d'];
  var state = { runs: [], runId: null, view: null, version: null, selected: null, chart: null, xAxis: 'index', yScale: 'linear',
                configOpen: false,
                detailCache: {} };

  // -- small DOM helpers -------------------------------------------------------------------------------------
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === 'text') node.textContent = props[k];
        else if (k === 'cls') node.className = props[k];
        else if (k === 'data') Object.keys(props.data).forEach(function (d) { node.dataset[d] = props.data[d]; });
        else if (k === 'on') Object.keys(props.on).forEach(function (ev) { node.addEventListener(ev, props.on[ev]); });
        else node.setAttribute(k, props[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(node, k); }); return; }
    node.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function fmt(x, digits) {
    if (x === null || x === undefined || typeof x !== 'number' || !isFinite(x)) return '—';
    return Number(x.toPrecision(digits || 4)).toString();
  }
  function short(id) { return id ? String(id).slice(0, 8) : ''; }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ''; }
  function idLink(id, label) {
    return el('a', { href: '#', cls: 'cid', data: { id: id }, title: id,
                     on: { click: function (e) { e.preventDefault(); select(id, true); } } }, label || short(id));
  }
  function kv(rows) {
    var t = el('table', { cls: 'kv' });
    rows.forEach(function (r) { if (r) t.appendChild(el('tr', null, el('th', { text: r[0] }), el('td', null, r[1]))); });
    return t;
  }

  // -- data ------------------------------------------------------------------------------------------------
  function getJSON(url) {
    return fetch(url, { cache: 'no-store' }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || (r.status + ' ' + r.statusText));
        return body;
      });
    });
  }
  function loadRuns() {
    if (EMBEDDED) return Promise.resolve(EMBEDDED.runs);
    return getJSON('/api/runs').then(function (b) { return b.runs; });
  }
  function loadRun(id) {
    if (EMBEDDED) return Promise.resolve(EMBEDDED.run);
    return getJSON('/api/runs/' + encodeURIComponent(id));
  }
  function loadCandidate(id) {
    if (EMBEDDED) {
      var c = EMBEDDED.candidates[id];
      return c ? Promise.resolve(c) : Promise.reject(new Error('candidate ' + id + ' is not in this report'));
    }
    return getJSON('/api/candidates/' + encodeURIComponent(id));
  }

  // -- routing: #run=ID&c=CANDIDATE ------------------------------------------------------------------------
  function readHash() {
    var out = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (part) {
      var kvp = part.split('=');
      if (kvp[0]) out[decodeURIComponent(kvp[0])] = decodeURIComponent(kvp[1] || '');
    });
    return out;
  }
  function writeHash() {
    var h = '#run=' + encodeURIComponent(state.runId || '') + (state.selected ? '&c=' + encodeURIComponent(state.selected) : '');
    if (location.hash !== h) history.replaceState(null, '', h);
  }

  // -- runs navigation ----------------------------------------------------------------------------------------
  function renderRuns() {
    var nav = clear(document.getElementById('runs'));
    if (!state.runs.length) { nav.appendChild(el('span', { cls: 'muted', text: 'no runs yet' })); return; }
    var sel = el('select', { id: 'run-select', 'aria-label': 'run', on: { change: function (e) { openRun(e.target.value); } } });
    state.runs.slice().reverse().forEach(function (r) {
      var o = el('option', { value: r.id }, r.id + ' · ' + r.problem + ' · ' + r.status + ' · ' + r.candidates + ' candidates');
      if (r.id === state.runId) o.selected = true;
      sel.appendChild(o);
    });
    nav.appendChild(sel);
  }

  // -- run header ---------------------------------------------------------------------------------------------
  function renderHead(v) {
    var r = v.run, t = v.target;
    var gens = {};
    v.candidates.forEach(function (c) { gens[c.generation] = true; });
    var nGens = Object.keys(gens).length;
    var stats = [
      ['status', r.status], ['best train', fmt(r.best_train)], ['best test', fmt(r.best_test)],
      ['candidates', r.candidates + ' (' + r.valid + ' valid)'], [t.step_word + 's', String(nGens)],
      ['paid LLM calls', String(r.llm_calls)], ['tokens', (r.prompt_tokens + r.completion_tokens).toLocaleString()],
      ['LLM cost', '$' + r.cost_usd.toFixed(4)]
    ];
    var head = clear(document.getElementById('run-head'));
    head.appendChild(el('h1', null, 'Run ', el('code', { text: r.id }), ' · ' + r.problem));
    head.appendChild(el('p', { cls: 'muted' }, [r.strategy, r.model, 'sandbox ' + (r.sandbox || 'none'), 'started ' + when(r.created_at),
      r.status + (r.stop_reason ? ': ' + r.stop_reason : '')].join(' · ')));
    if (v.note) head.appendChild(el('p', { cls: 'bad', text: v.note }));
    var box = el('div', { cls: 'stats' });
    stats.forEach(function (s) { box.appendChild(el('div', { cls: 'stat' }, el('b', { text: s[1] }), el('span', { text: s[0] }))); });
    head.appendChild(box);
    if (v.in_flight && v.in_flight.length) {
      var now = Date.now() / 1000;
      head.appendChild(el('p', { cls: 'in-flight', id: 'in-flight' }, el('b', { text: 'In flight: ' }), v.in_flight.map(function (p, i) {
        return [i ? ' · ' : '', '#' + p.idx + ' ' + p.operator + (p.parent_ids.length ? ' from ' : ''),
                p.parent_ids.map(function (id, j) { return [j ? ', ' : '', idLink(id)]; }),
                ': ' + (p.status === 'pending' ? 'asking the model' : 'answered, evaluating') + ', ' + Math.max(0, Math.round(now - p.created_at)) + ' s'];
      })));
    }
  }

  // -- scatter --------------------------------------------------------------------------------------------------
  function xOf(c) { return state.xAxis === 'calls' ? c.calls_before : c.index; }
  function chartData(v) {
    var cands = v.candidates, minimize = v.target.direction === 'minimize';
    var scored = cands.filter(function (c) { return typeof c.train_score === 'number'; });
    var ys = scored.map(function (c) { return c.train_score; }).concat(v.baselines.map(function (b) { return b.train; }));
    var lo = ys.length ? Math.min.apply(null, ys) : 0, hi = ys.length ? Math.max.apply(null, ys) : 1;
    var pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.06 || 1;
    var edge = minimize ? hi + pad : lo - pad;  // failed candidates: on the worse edge of the chart
    if (state.yScale === 'logarithmic') {
      var pos = ys.filter(function (y) { return y > 0; });
      var plo = pos.length ? Math.min.apply(null, pos) : 1, phi = pos.length ? Math.max.apply(null, pos) : 1;
      edge = minimize ? phi * 1.5 : plo / 1.5;  // a log axis has no zero: the edge is a factor away
    }
    var groups = {};
    cands.forEach(function (c) {
      var failed = typeof c.train_score !== 'number';
      var key = c.outcome;
      (groups[key] = groups[key] || []).push({ x: xOf(c), y: failed ? edge : c.train_score, id: c.id, failed: failed, c: c });
    });
    var sets = Object.keys(groups).map(function (k) {
      return { type: 'scatter', label: k, data: groups[k], backgroundColor: COLORS[k] || '#888', borderColor: COLORS[k] || '#888',
               pointRadius: groups[k].map(function (p) { return p.id === state.selected ? 8 : (p.failed ? 5 : 4.5); }),
               pointStyle: groups[k].map(function (p) { return p.failed ? 'crossRot' : 'circle'; }),
               pointBorderWidth: groups[k].map(function (p) { return p.id === state.selected ? 3 : 1; }), order: 1 };
    });
    var xs = cands.map(xOf), x0 = xs.length ? Math.min.apply(null, xs) : 0, x1 = xs.length ? Math.max.apply(null, xs) : 1;
    var best = [], cur = null;
    cands.filter(function (c) { return c.rankable; }).forEach(function (c) {
      if (cur === null || (minimize ? c.train_score < cur : c.train_score > cur)) { cur = c.train_score; best.push({ x: xOf(c), y: cur }); }
    });
    if (best.length) best.push({ x: x1, y: cur });
    sets.push({ type: 'line', label: 'best so far', data: best, stepped: 'before', borderColor: '#2563eb', borderWidth: 2,
                pointRadius: 0, fill: false, order: 0 });
    v.baselines.forEach(function (b, i) {
      var color = LINE_COLORS[i % LINE_COLORS.length];
      sets.push({ type: 'line', label: b.name + ' (' + b.kind + ', train)', data: [{ x: x0, y: b.train }, { x: x1, y: b.train }],
                  borderColor: color, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false, order: 2 });
    });
    return sets;
  }
  function renderChart(v) {
    var canvas = document.getElementById('scatter');
    var t = v.target;
    var yTitle = 'train score' + (t.unit ? ' (' + t.unit + ')' : '') + ' · ' + (t.direction === 'minimize' ? 'lower' : 'higher') + ' is better';
    var xTitle = state.xAxis === 'calls' ? 'paid LLM calls made when proposed' : 'candidate (order found)';
    if (typeof Chart === 'undefined') { noteError('Chart.js did not load'); return; }
    if (!state.chart) {
      state.chart = new Chart(canvas, {
        type: 'scatter', data: { datasets: chartData(v) },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          interaction: { mode: 'nearest', intersect: true },
          scales: { x: { type: 'linear', ticks: { precision: 0 }, title: { display: true, text: xTitle } },
                    y: { type: state.yScale, title: { display: true, text: yTitle } } },
          plugins: {
            legend: { position: 'bottom', labels: { boxWidth: 12, usePointStyle: true } },
            tooltip: { callbacks: { label: function (ctx) {
              var p = ctx.raw;
              if (!p || !p.c) return ctx.dataset.label + ': ' + fmt(ctx.parsed.y);
              return short(p.id) + ' ' + p.c.operator + ' · ' + p.c.outcome + (p.failed ? '' : ' · ' + fmt(p.c.train_score)) +
                (p.c.error ? ' · ' + p.c.error.slice(0, 60) : '');
            } } }
          },
          onClick: function (evt, elements) {
            if (!elements.length) return;
            var p = state.chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
            if (p && p.id) select(p.id, true);
          }
        }
      });
    } else {
      state.chart.data.datasets = chartData(v);
      state.chart.options.scales.x.title.text = xTitle;
      state.chart.options.scales.y.title.text = yTitle;
      state.chart.options.scales.y.type = state.yScale;
      state.chart.update('none');
    }
  }

  // -- lineage tree -----------------------------------------------------------------------------------------------
  function renderTree(v) {
    var box = clear(document.getElementById('tree'));
    var byId = {}, kids = {}, roots = [];
    v.candidates.forEach(function (c) { byId[c.id] = c; });
    v.candidates.forEach(function (c) {
      var first = c.parent_ids.filter(function (p) { return byId[p]; })[0];
      if (first) (kids[first] = kids[first] || []).push(c); else roots.push(c);
    });
    document.getElementById('tree-note').textContent = v.candidates.length + ' candidates; a child with two parents sits under the first';
    function node(c, depth) {
      var label = el('span', { cls: 'node o-' + c.outcome.replace(/\s+/g, '-') + (c.id === state.selected ? ' selected' : ''),
                               data: { id: c.id }, title: c.outcome + (c.error ? ': ' + c.error : ''), tabindex: '0', role: 'button',
                               on: { click: function () { select(c.id, true); },
                                     keydown: function (e) { if (e.key === 'Enter') select(c.id, true); } } },
        el('span', { cls: 'dot' }), el('code', { text: short(c.id) }), ' ' + c.operator + ' · ',
        typeof c.train_score === 'number' ? fmt(c.train_score) : c.outcome,
        c.id === v.best_id ? el('b', { cls: 'best-mark', text: ' ★ best' }) : null,
        c.parent_ids.length > 1 ? el('span', { cls: 'muted', text: ' × ' + c.parent_ids.slice(1).map(short).join(', ') }) : null);
      var li = el('li', null, label);
      var children = kids[c.id] || [];
      if (children.length && depth < 5000) {
        var ul = el('ul', depth >= 12 ? { cls: 'deep' } : null);  // long chains: indent a little, not off the screen
        children.forEach(function (k) { ul.appendChild(node(k, depth + 1)); });
        li.appendChild(ul);
      }
      return li;
    }
    var top = el('ul', { cls: 'tree' });
    roots.forEach(function (c) { top.appendChild(node(c, 0)); });
    box.appendChild(top);
    if (!roots.length) box.appendChild(el('p', { cls: 'muted', text: 'No candidates yet.' }));
  }

  // -- candidate detail ----------------------------------------------------------------------------------------
  function codeBlock(d) {
    var pre = el('pre', { cls: d.language === 'python' ? 'hl code' : 'code text' });
    var code = el('code');
    (d.code_tokens || [['', d.code]]).forEach(function (tok) {
      code.appendChild(tok[0] ? el('span', { cls: tok[0], text: tok[1] }) : document.createTextNode(tok[1]));
    });
    if (!d.code) code.textContent = '(empty ' + d.text_label + ')';
    pre.appendChild(code);
    return pre;
  }
  function diffBlock(lines) {
    var pre = el('pre', { cls: 'diff' });
    if (!lines.length) { pre.textContent = 'same text as this parent'; return pre; }
    lines.forEach(function (line) {
      var cls = line.indexOf('+++') === 0 || line.indexOf('---') === 0 ? 'file' : line[0] === '+' ? 'add' : line[0] === '-' ? 'del' : line[0] === '@' ? 'hunk' : '';
      pre.appendChild(el('span', { cls: cls, text: line + '\n' }));
    });
    return pre;
  }
  function section(title, body, open) {
    var d = el('details', { cls: 'part' }, el('summary', { text: title }), body);
    if (open) d.open = true;
    return d;
  }
  function instancesTable(e) {
    var names = Object.keys(e.instances || {});
    if (!names.length) return null;
    var metrics = [];
    names.slice(0, 200).forEach(function (n) {
      var m = e.instances[n];
      if (m && typeof m === 'object') Object.keys(m).forEach(function (k) { if (metrics.indexOf(k) < 0) metrics.push(k); });
    });
    metrics.sort(function (a, b) { return (a === 'score' ? -1 : 0) - (b === 'score' ? -1 : 0); });
    var head = el('tr', null, el('th', { text: 'instance' }), metrics.map(function (k) { return el('th', { text: k }); }));
    var t = el('table', { cls: 'instances' }, el('thead', null, head));
    var body = el('tbody');
    names.slice(0, 200).forEach(function (n) {
      var m = e.instances[n];
      if (!m || typeof m !== 'object') m = { score: m };
      body.appendChild(el('tr', null, el('td', { text: n }), metrics.map(function (k) {
        var val = m[k];
        return el('td', { text: typeof val === 'number' ? fmt(val, 6) : (val === null || val === undefined ? '' : String(val).slice(0, 200)) });
      })));
    });
    t.appendChild(body);
    return section(e.split + ' / ' + e.instance_set + ': ' + names.length + ' instances' + (names.length > 200 ? ' (first 200)' : ''), t, false);
  }
  function renderDetail(d) {
    var box = clear(document.getElementById('detail'));
    box.appendChild(el('h2', null, 'Candidate ', el('code', { text: d.id })));
    var parents = d.parents.length ? d.parents.map(function (p) { return [idLink(p.id), ' ']; }) : 'none';
    var children = d.children.length ? d.children.map(function (c) { return [idLink(c), ' ']; }) : 'none';
    box.appendChild(kv([
      ['operator', d.operator], [state.view ? state.view.target.step_word : 'generation', String(d.generation)],
      ['outcome', el('span', { cls: 'pill o-' + d.outcome.replace(/\s+/g, '-'), text: d.outcome + (d.status !== d.outcome ? ' (' + d.status + ')' : '') })],
      ['train', fmt(d.train_score, 6)], ['test', fmt(d.test_score, 6)], ['parents', el('span', null, parents)],
      ['children', el('span', null, children)],
      d.reject_reason ? ['why', el('span', { cls: 'bad', text: d.reject_reason })] : null,
      d.llm ? ['LLM call', d.llm.model + ' · ' + d.llm.prompt_tokens + ' prompt + ' + d.llm.completion_tokens + ' completion tokens · $' +
        Number(d.llm.cost_usd).toFixed(4) + ' · ' + fmt(d.llm.latency_s, 3) + ' s' + (d.llm.cached ? ' · answered from the cache' : '') +
        (d.llm.attempts > 1 ? ' · ' + d.llm.attempts + ' records' : '')] : ['LLM call', 'none (written without the model)']
    ]));
    if (d.thought) box.appendChild(el('p', { cls: 'thought' }, el('b', { text: 'Thought: ' }), d.thought));
    box.appendChild(el('h3', { text: d.text_label }));
    box.appendChild(codeBlock(d));
    d.parents.forEach(function (p) {
      if (p.missing) { box.appendChild(el('p', { cls: 'muted', text: 'parent ' + p.id + ' is not in the store' })); return; }
      box.appendChild(section('Diff to parent ' + short(p.id) + ' (' + p.operator + ', train ' + fmt(p.train_score) + ')', diffBlock(p.diff), true));
    });
    if (d.feedback) box.appendChild(section('Feedback it received', el('pre', { cls: 'text', text: d.feedback }), true));
    if (d.evaluations.length) {
      var t = el('table', { cls: 'evals' }, el('thead', null, el('tr', null, ['split', 'instance set', 'status', 'score', 'time s', 'error'].map(function (h) { return el('th', { text: h }); }))));
      var body = el('tbody');
      d.evaluations.forEach(function (e) {
        body.appendChild(el('tr', null, el('td', { text: e.split }), el('td', { text: e.instance_set }),
          el('td', { cls: e.status === 'ok' ? '' : 'bad', text: e.status }), el('td', { text: fmt(e.score, 6) }),
          el('td', { text: typeof e.duration_s === 'number' ? e.duration_s.toFixed(2) : '' }), el('td', { cls: 'wrap', text: e.error || '' })));
      });
      t.appendChild(body);
      box.appendChild(el('h3', { text: 'Scores' }));
      box.appendChild(t);
      d.evaluations.forEach(function (e) {
        var it = instancesTable(e);
        if (it) box.appendChild(it);
        if (e.traceback) box.appendChild(section('Traceback (' + e.split + ' / ' + e.instance_set + ')', el('pre', { cls: 'text', text: e.traceback }), false));
      });
    }
    if (d.llm) {
      var msgs = el('div', { cls: 'messages' });
      (d.llm.messages || []).forEach(function (m) {
        msgs.appendChild(el('div', { cls: 'msg' }, el('div', { cls: 'role', text: m.role }), el('pre', { cls: 'text', text: typeof m.content === 'string' ? m.content : JSON.stringify(m.content, null, 2) })));
      });
      box.appendChild(section('Prompt it came from (' + (d.llm.messages || []).length + ' messages)', msgs, false));
      box.appendChild(section('Raw response', el('pre', { cls: 'text', text: d.llm.response || d.llm.error || '(none)' }), false));
    }
    if (d.meta && Object.keys(d.meta).length) box.appendChild(section('Details (meta)', el('pre', { cls: 'text', text: JSON.stringify(d.meta, null, 2) }), false));
  }
  function refreshDetail(id) {
    // keep what the reader opened: the same sections stay open after the re-render
    var open = {};
    document.querySelectorAll('#detail details').forEach(function (d) { open[d.querySelector('summary').textContent] = d.open; });
    return loadCandidate(id).then(function (d) {
      if (state.selected !== id) return;
      renderDetail(d);
      document.querySelectorAll('#detail details').forEach(function (x) {
        var key = x.querySelector('summary').textContent;
        if (key in open) x.open = open[key];
      });
    });
  }
  function select(id, userAction) {
    state.selected = id;
    writeHash();
    document.querySelectorAll('.node.selected').forEach(function (n) { n.classList.remove('selected'); });
    document.querySelectorAll('.node[data-id="' + CSS.escape(id) + '"]').forEach(function (n) { n.classList.add('selected'); });
    if (state.view) renderChart(state.view);
    return loadCandidate(id).then(function (d) {
      if (state.selected !== id) return;
      renderDetail(d);
      if (userAction) document.getElementById('detail').scrollIntoView({ behavior: 'auto', block: 'start' });
    }).catch(function (e) {
      clear(document.getElementById('detail')).appendChild(el('p', { cls: 'bad', text: String(e.message || e) }));
    });
  }

  // -- leaderboard and facts ---------------------------------------------------------------------------------------
  function renderBoard(v) {
    var b = v.leaderboard, box = clear(document.getElementById('leaderboard'));
    box.appendChild(el('h2', { text: 'Leaderboard (held-out ' + b.split + ')' }));
    var sets = b.instance_sets;
    var head = el('tr', null, ['#', 'candidate', 'op'].concat(sets, sets.length > 1 ? ['mean'] : [], ['train']).map(function (h) { return el('th', { text: h }); }));
    var body = el('tbody');
    b.rows.forEach(function (r) {
      var name = r.candidate_id ? [idLink(r.candidate_id), r.kind === 'seed' ? ' (seed)' : ''] : r.name + ' (' + r.kind + ')';
      body.appendChild(el('tr', { cls: r.kind === 'candidate' || r.kind === 'seed' ? (r.candidate_id === v.best_id ? 'best' : '') : 'baseline' },
        el('td', { text: r.rank ? String(r.rank) : '' }), el('td', null, name), el('td', { text: r.operator || '' }),
        sets.map(function (s) { return el('td', { text: r.scores[s] === null || r.scores[s] === undefined ? (r.statuses[s] === 'missing' ? '' : r.statuses[s]) : fmt(r.scores[s]) }); }),
        sets.length > 1 ? el('td', { text: fmt(r.score) }) : null, el('td', { text: fmt(r.train_score) })));
    });
    box.appendChild(el('table', { cls: 'board' }, el('thead', null, head), body));
    box.appendChild(el('p', { cls: 'muted small', text: (b.unit || 'score') + ', ' + (b.direction === 'minimize' ? 'lower' : 'higher') +
      ' is better. ★ best = best valid train score (ties: the earlier).' }));
  }
  function renderFacts(v) {
    var r = v.run, box = clear(document.getElementById('run-facts'));
    box.appendChild(el('h2', { text: 'LLM usage and configuration' }));
    box.appendChild(kv([['paid LLM calls', String(r.llm_calls)], ['cached answers', String(v.cached_calls)],
                        ['failed calls', String(v.failed_calls)], ['prompt tokens', r.prompt_tokens.toLocaleString()],
                        ['completion tokens', r.completion_tokens.toLocaleString()], ['cost', '$' + r.cost_usd.toFixed(4)]]));
    var config = Object.keys(r.config || {}).map(function (k) {
      var val = r.config[k];
      return [k, typeof val === 'string' ? val : JSON.stringify(val)];
    });
    var wasOpen = state.configOpen;
    var part = section('Run configuration (' + config.length + ' settings)', kv(config), wasOpen);
    part.addEventListener('toggle', function () { state.configOpen = part.open; });
    box.appendChild(part);
  }

  // -- lifecycle -------------------------------------------------------------------------------------------------
  function show(v) {
    state.view = v;
    state.version = v.version;
    renderHead(v);
    renderChart(v);
    renderTree(v);
    renderBoard(v);
    renderFacts(v);
    document.body.dataset.candidates = String(v.candidates.length);
  }
  function openRun(id) {
    state.runId = id;
    state.selected = null;
    state.version = null;
    return loadRun(id).then(function (v) {
      show(v);
      var want = readHash().c;
      var first = want && v.candidates.some(function (c) { return c.id === want; }) ? want : v.best_id;
      writeHash();
      if (first) return select(first, false);
    });
  }
  function poll() {
    if (!state.runId) {
      return loadRuns().then(function (runs) { state.runs = runs; renderRuns(); if (runs.length) return openRun(runs[runs.length - 1].id); });
    }
    return loadRun(state.runId).then(function (v) {
      document.getElementById('live').textContent = 'live · updated ' + new Date().toLocaleTimeString();
      if (v.version === state.version) return;
      show(v);
      if (state.selected) return refreshDetail(state.selected);  // its status, scores or children may have changed
    });
  }
  function start() {
    document.getElementById('y-axis').addEventListener('change', function (e) {
      state.yScale = e.target.value;
      if (state.view) renderChart(state.view);
    });
    document.getElementById('x-axis').addEventListener('change', function (e) {
      state.xAxis = e.target.value;
      if (state.view) renderChart(state.view);
    });
    var footer = document.getElementById('footer');
    footer.textContent = EMBEDDED ? 'discover report · generated ' + when(EMBEDDED.generated_at) + ' · works offline'
                                  : 'discover serve · read-only view · refreshes every ' + POLL_MS / 1000 + ' s';
    loadRuns().then(function (runs) {
      state.runs = runs;
      var wanted = readHash().run;
      var id = runs.some(function (r) { return r.id === wanted; }) ? wanted : (runs.length ? runs[runs.length - 1].id : null);
      state.runId = id;
      renderRuns();
      if (!id) { clear(document.getElementById('run-head')).appendChild(el('p', { cls: 'muted', text: 'No runs yet: start one with discover evolve.' })); return; }
      return openRun(id);
    }).catch(function (e) {
      clear(document.getElementById('run-head')).appendChild(el('p', { cls: 'bad', text: String(e.message || e) }));
    }).then(function () {
      if (MODE !== 'serve') return;
      var n = 0;
      function next() {
        // a run view that took the server long to build (a large run) is asked for less often
        var wait = Math.max(POLL_MS, state.view && state.view.compute_s ? state.view.compute_s * 5000 : 0);
        setTimeout(tick, wait);
      }
      function tick() {
        n += 1;
        var p = poll();
        if (n % 5 === 0) p = p.then(function () { return loadRuns().then(function (runs) { state.runs = runs; renderRuns(); }); });
        p.catch(function (e) { document.getElementById('live').textContent = 'not updating: ' + (e.message || e); }).then(next);
      }
      next();
    });
  }
  start();
})();
