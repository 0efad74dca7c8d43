"""The one web page of the service: drop an X-ray, see the decision and the heat map."""

from __future__ import annotations

__all__ = ["PAGE"]

#: Served at ``GET /``; no external scripts, styles or fonts (it works offline).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xraycls</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}
 #drop{border:2px dashed #888;border-radius:.6rem;padding:2rem;text-align:center;cursor:pointer}
 #drop.over{background:#eef5ff;border-color:#36c}
 #result{display:none;margin-top:1.2rem;gap:1.5rem;flex-wrap:wrap}
 #result.shown{display:flex}
 #decision{font-size:1.6rem;font-weight:600;margin:.2rem 0 .8rem}
 .refer{color:#b36b00}.pos{color:#b00020}.neg{color:#1b7a2e}
 .bar{background:#ddd;border-radius:.3rem;height:.9rem;width:14rem}
 .bar>div{background:#36c;height:100%;border-radius:.3rem}
 td{padding:.15rem .5rem .15rem 0}
 #overlay{max-width:20rem;image-rendering:auto;border:1px solid #ccc}
 #error{color:#b00020;margin-top:1rem;white-space:pre-wrap}
 .meta{color:#666;font-size:.85rem}
 .warn{color:#8a4b00;background:#fff4e0;border-left:4px solid #e69500;padding:.4rem .6rem}
</style></head>
<body>
<h1>xraycls</h1>
<p class="meta" id="model">loading model information...</p>
<p class="meta" id="trained"></p>
<div id="drop" tabindex="0">Drop a chest X-ray here (PNG, JPEG, 16-bit PNG or DICOM)
 or click to choose a file.<input id="file" type="file" hidden
 accept=".png,.jpg,.jpeg,.dcm,.dicom,image/png,image/jpeg,application/dicom"></div>
<div id="error" role="alert"></div>
<div id="result">
 <div><div class="meta">decision</div><div id="decision"></div>
  <p class="warn" id="ood" role="alert" hidden></p>
  <table id="probs"></table><p class="meta" id="note"></p></div>
 <div><div class="meta">Grad-CAM of the predicted class</div><img id="overlay" alt="heat map"></div>
</div>
<p class="meta">Research software, not a medical device. No authentication: run it on
 localhost or behind a reverse proxy that adds it.</p>
<script>
const $ = id => document.getElementById(id);
fetch('model').then(r => r.json()).then(m => {
  const c = m.calibration;
  const cal = c ? `calibrated: ${c.positive_class} when p >= ${c.threshold.toFixed(3)} (target
    sensitivity ${c.target_sensitivity}), refer when the top probability is below
    ${c.refer_below}` : 'not calibrated: no decision, raw probabilities';
  $('model').textContent = `${m.backbone}, ${m.input_size.join('x')} px, classes ` +
    `${m.class_names.join(', ')}; ${cal}`;
  const t = m.training_data, flags = m.audit_flags || [], tr = $('trained');
  if (!t) {
    tr.className = 'warn';
    tr.textContent = 'What this model was trained on is unknown: do not use on populations ' +
      'it was not validated on.' + (flags.length ? ' Audit: ' + flags.join('; ') : '');
  } else {
    const src = Object.entries(t.sources || {}).map(([n, s]) =>
      `${n} (${s.images} images)`).join(', ') || 'sources not recorded';
    const a = t.age;
    // Sources without any recorded age (cxr3's children) are named: a range over the known
    // ages alone reads as "adults only".
    const noAge = Object.entries(t.sources || {}).filter(([, s]) => 'age' in s && !s.age)
      .map(([n]) => n);
    const of = a && a.unknown ? ` of ${a.known + a.unknown}` : '';
    const none = noAge.length ? `; none recorded for ${noAge.join(', ')}` : '';
    const ages = a ? `ages ${a.min}-${a.max}, median ${a.median} (known for ${a.known}${of}` +
      `${none})` : 'ages not recorded';
    // The first data note is the most important one (describe() orders them); the rest, and
    // every number, are on /model: a wall of text here would not be read.
    const notes = t.notes || [];
    const more = notes.length > 1 ? ` (${notes.length - 1} more at /model)` : '';
    const limits = [...notes.slice(0, 1), ...flags];
    const classes = (m.class_notes || [])
      .map(n => n.charAt(0).toUpperCase() + n.slice(1) + '. ').join('');
    tr.textContent = `Trained on: ${src}; ${t.n_images} images; ${ages}. ${classes}Limits: ` +
      (limits.length ? limits.join('; ') + more : 'none recorded');
  }
});
async function send(file) {
  $('error').textContent = ''; $('result').classList.remove('shown');
  const form = new FormData(); form.append('file', file, file.name);
  let r;
  try { r = await fetch('explain', {method: 'POST', body: form}); }
  catch (e) { $('error').textContent = 'request failed: ' + e; return; }
  const body = await r.json();
  if (!r.ok) { $('error').textContent = `${file.name}: ${body.error}`; return; }
  const d = body.decision;
  $('decision').textContent = d === null ? body['class'] + ' (no decision: uncalibrated)' : d;
  $('decision').className = d === 'refer' ? 'refer' : (d && !d.startsWith('not ') ? 'pos' : 'neg');
  const warns = body.warnings || [];
  $('ood').hidden = !warns.length;
  $('ood').textContent = warns.length ? 'Out of distribution: ' + warns.join(' ') : '';
  $('probs').innerHTML = '';
  for (const [name, p] of Object.entries(body.probabilities)) {
    const row = $('probs').insertRow();
    row.insertCell().textContent = name;
    const bar = document.createElement('div'); bar.className = 'bar';
    const fill = document.createElement('div'); fill.style.width = (100 * p).toFixed(1) + '%';
    bar.appendChild(fill); row.insertCell().appendChild(bar);
    row.insertCell().textContent = p.toFixed(3);
  }
  $('note').textContent = `${file.name}; predicted class ${body['class']}`;
  $('overlay').src = 'data:image/png;base64,' + body.overlay_png;
  $('result').classList.add('shown');
}
const drop = $('drop');
drop.addEventListener('click', () => $('file').click());
$('file').addEventListener('change', e => { if (e.target.files.length) send(e.target.files[0]); });
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => {
  e.preventDefault(); drop.classList.remove('over');
  if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
});
</script>
</body></html>
"""
