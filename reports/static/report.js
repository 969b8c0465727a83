/* archbench report: draw the figures and make the leaderboard sortable and filterable.
   Plain JS, no libraries besides the inlined plotly.js, no network. */
(function () {
  "use strict";

  // ------------------------------------------------------------ figures
  // Each figure is a <div data-figure="ID"> next to <script type="application/json" id="ID">.
  function drawFigures() {
    var divs = document.querySelectorAll("div[data-figure]");
    var config = { displaylogo: false, responsive: true,
                   modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
                   toImageButtonOptions: { format: "png", scale: 2 } };
    divs.forEach(function (div) {
      var blob = document.getElementById(div.getAttribute("data-figure"));
      if (!blob) { return; }
      var fig = JSON.parse(blob.textContent);
      Plotly.newPlot(div, fig.data, fig.layout, config);
    });
  }

  // ------------------------------------------------------------ leaderboard
  function cellKey(row, index, numeric) {
    var cell = row.children[index];
    var raw = cell ? cell.getAttribute("data-sort") : "";
    if (raw === null || raw === "") { return null; }        // missing / failed: always last
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  }

  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, index, numeric), y = cellKey(b, index, numeric);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      if (x < y) { return asc ? -1 : 1; }
      if (x > y) { return asc ? 1 : -1; }
      return 0;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function filterRows(tables) {
    var text = (document.getElementById("board-filter") || {}).value || "";
    var family = (document.getElementById("board-family") || {}).value || "";
    var needle = text.trim().toLowerCase();
    tables.forEach(function (table) {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var name = (row.getAttribute("data-variant") || "").toLowerCase();
        var fam = row.getAttribute("data-family") || "";
        var show = (!needle || name.indexOf(needle) >= 0 || fam.toLowerCase().indexOf(needle) >= 0) &&
                   (!family || fam === family);
        row.hidden = !show;
      });
    });
  }

  // every board of the leaderboard sorts on its own; the filter and family select act on all of them
  function setupBoards() {
    var tables = Array.prototype.slice.call(document.querySelectorAll("table.board.sortable"));
    if (!tables.length) { return; }
    tables.forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th) {
        th.setAttribute("tabindex", "0");
        th.addEventListener("click", function () { sortBy(table, th); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
        });
      });
    });
    ["board-filter", "board-family"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("input", function () { filterRows(tables); }); }
    });
  }

  function main() {
    setupBoards();
    drawFigures();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", main);
  } else {
    main();
  }
})();
