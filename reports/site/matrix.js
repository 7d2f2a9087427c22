// Narrows the matrix to the rows and columns the form asks for; without this script the
// matrix is a plain table and the form does nothing.
(function () {
  var form = document.getElementById('filter');
  var table = document.getElementById('matrix');
  if (!form || !table) { return; }
  form.hidden = false;
  function apply() {
    var store = form.store.value, area = form.area.value, level = form.level.value;
    var outcome = form.outcome.value, text = form.text.value.trim().toLowerCase();
    var heads = table.rows[0].cells, show = [];
    for (var c = 0; c < heads.length; c++) {
      var t = heads[c].getAttribute('data-target');
      show.push(!t || !store || t === store);
      heads[c].hidden = !show[c];
    }
    var shown = 0;
    for (var r = 1; r < table.rows.length; r++) {
      var row = table.rows[r], cells = row.cells, ok = true;
      if (area && row.getAttribute('data-area') !== area) { ok = false; }
      if (level && row.getAttribute('data-level') !== level) { ok = false; }
      if (text && row.textContent.toLowerCase().indexOf(text) < 0) { ok = false; }
      if (ok && outcome) {
        var any = false;
        for (var k = 0; k < cells.length; k++) {
          if (show[k] && cells[k].getAttribute('data-outcome') === outcome) { any = true; }
        }
        ok = any;
      }
      for (var j = 0; j < cells.length; j++) { cells[j].hidden = !show[j]; }
      row.hidden = !ok;
      if (ok) { shown++; }
    }
    document.getElementById('shown').textContent = shown + ' of ' + (table.rows.length - 1) + ' scenarios shown';
  }
  form.addEventListener('input', apply);
  form.addEventListener('submit', function (e) { e.preventDefault(); apply(); });
  apply();
})();
