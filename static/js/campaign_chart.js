/* The campaign page's "calls over time" chart (Chart.js, vendored in static/vendor/chart.js/).
 *
 * The numbers arrive in the polled results fragment as <script type="application/json"
 * id="calls-chart-data"> ({"unit", "labels", "started", "answered", "positive"}: calls started, answered,
 * and ended with an outcome the agent counts as positive, per bucket). The <canvas> lives outside
 * every element htmx swaps, so one Chart is made once and then only its data changes: no flicker,
 * no animation, no redraw when the numbers are the same as last time.
 */
(function () {
  "use strict";

  var chart = null;
  var lastJson = null;

  function colour(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function render() {
    var source = document.getElementById("calls-chart-data");
    var canvas = document.getElementById("calls-chart");
    if (!source || !canvas || typeof window.Chart === "undefined") return;
    var json = source.textContent;
    if (json === lastJson) return;
    lastJson = json;
    var data = JSON.parse(json);
    var figure = document.getElementById("calls-chart-figure");
    if (figure) figure.hidden = data.labels.length === 0;
    if (!chart && data.labels.length === 0) return; // made once there is something to show

    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets[0].data = data.started;
      chart.data.datasets[1].data = data.answered;
      chart.data.datasets[2].data = data.positive || [];
      chart.update("none");
      return;
    }
    var blue = colour("--c-blue", "#1d4ed8");
    var grey = colour("--c-grey", "#4b5563");
    var green = colour("--c-green", "#1e7d3a");
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Started", data: data.started, backgroundColor: blue, borderRadius: 2 },
          { label: "Answered", data: data.answered, backgroundColor: grey, borderRadius: 2 },
          { label: "Positive outcome", data: data.positive || [], backgroundColor: green, borderRadius: 2 },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { grid: { display: false }, ticks: { autoSkip: true, maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  // The fragment is swapped in by htmx (on load, then every few seconds): redraw after each swap.
  document.addEventListener("htmx:afterSettle", render);
  document.addEventListener("DOMContentLoaded", render);
})();
