// Reports: draws each `.report-chart` from the series the page put in its data-chart attribute (periods on
// the x axis, one stacked bar series per figure) with ECharts' SVG renderer, so the chart is sharp at any
// size, prints, and its text is in the DOM. The same figures are in the table beside it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!window.echarts) return;
  // each colour has at least 3:1 contrast on white (WCAG 1.4.11 for graphics)
  const COLOURS = ["#1d4ed8", "#b91c1c", "#92400e", "#6d28d9", "#047857", "#374151", "#be185d", "#0e7490"];
  const INK = "#1f2937";
  const charts = [];
  for (const box of document.querySelectorAll(".report-chart[data-chart]")) {
    let data;
    try { data = JSON.parse(box.dataset.chart); } catch (e) { continue; }
    const chart = window.echarts.init(box, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      color: COLOURS,
      textStyle: { color: INK, fontFamily: getComputedStyle(document.body).fontFamily },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll", textStyle: { color: INK } },
      grid: { left: 16, right: 16, top: 40, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.x, axisLabel: { color: INK }, axisLine: { lineStyle: { color: "#4b5563" } } },
      yAxis: { type: "value", name: data.unit, nameTextStyle: { color: INK }, axisLabel: { color: INK },
               minInterval: data.integer ? 1 : 0 },
      series: data.series.map((s) => ({ name: s.name, type: "bar", stack: "all", data: s.data,
                                       emphasis: { focus: "series" } })),
    });
    box.dataset.rendered = box.querySelector("svg") ? "svg" : "other";
    charts.push(chart);
  }
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => charts.forEach((c) => c.resize()));
  });
});
