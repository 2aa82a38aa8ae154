(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#items-table tbody tr'));
  var fs = document.getElementById('f-suite'), fv = document.getElementById('f-verdict'),
      ft = document.getElementById('f-text'), shown = document.getElementById('shown');
  function fromHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (p.has('suite')) fs.value = p.get('suite');
    if (p.has('verdict')) fv.value = p.get('verdict');
    if (p.has('q')) ft.value = p.get('q');
  }
  function apply(save) {
    var s = fs.value, v = fv.value, q = ft.value.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!s || r.getAttribute('data-suite') === s) &&
               (!v || r.getAttribute('data-verdict') === v || (r.getAttribute('data-flip') || '').split(' ').indexOf(v) >= 0) &&
               (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      if (ok) { r.removeAttribute('hidden'); n++; } else { r.setAttribute('hidden', ''); }
    });
    shown.textContent = String(n);
    document.body.setAttribute('data-filter', 'suite=' + s + ';verdict=' + v + ';shown=' + n);
    if (save) {
      var p = new URLSearchParams();
      if (s) p.set('suite', s); if (v) p.set('verdict', v); if (q) p.set('q', ft.value);
      try { history.replaceState(null, '', '#' + p.toString()); } catch (e) {}
    }
  }
  fs.addEventListener('change', function () { apply(true); });
  fv.addEventListener('change', function () { apply(true); });
  ft.addEventListener('input', function () { apply(true); });
  window.addEventListener('hashchange', function () { fromHash(); apply(false); });
  fromHash();
  apply(false);
})();
