// Candle chart with SMC overlays: order-block and FVG boxes, BOS/CHoCH markers, liquidity levels.
import { CandlestickSeries, ColorType, createChart, createSeriesMarkers, HistogramSeries, LineSeries } from "lightweight-charts";
import { BoxesPrimitive } from "./boxes.js";

const THEME = {
  layout: { background: { type: ColorType.Solid, color: "#0f141a" }, textColor: "#9aa7b4", fontFamily: "system-ui, sans-serif" },
  grid: { vertLines: { color: "#1a222b" }, horzLines: { color: "#1a222b" } },
  rightPriceScale: { borderColor: "#26303b" },
  timeScale: { borderColor: "#26303b", timeVisible: true, secondsVisible: false },
  crosshair: { mode: 0 },
};
const UP = "#26a69a";
const DOWN = "#ef5350";

export class CandleChart {
  constructor(container) {
    this.chart = createChart(container, { ...THEME, autoSize: true });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP, downColor: DOWN, borderVisible: false, wickUpColor: UP, wickDownColor: DOWN,
    });
    this.volume = this.chart.addSeries(HistogramSeries, { priceScaleId: "vol", priceFormat: { type: "volume" }, lastValueVisible: false });
    this.chart.priceScale("vol").applyOptions({ scaleMargins: { top: 0.85, bottom: 0 } });
    this.boxes = new BoxesPrimitive();
    this.candles.attachPrimitive(this.boxes);
    this.markers = createSeriesMarkers(this.candles, []);
    this.priceLines = [];
    this.counts = { order_blocks: 0, fvgs: 0, structure: 0, liquidity: 0 };
  }

  setData(response) {
    const bars = response.candles;
    this.candles.setData(bars.map(({ time, open, high, low, close }) => ({ time, open, high, low, close })));
    this.volume.setData(bars.map((b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? "#26a69a44" : "#ef535044" })));
    this.setOverlays(response.overlays || {});
    this.chart.timeScale().fitContent();
  }

  update(bar) {
    this.candles.update({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
    this.volume.update({ time: bar.time, value: bar.volume, color: bar.close >= bar.open ? "#26a69a44" : "#ef535044" });
  }

  setOverlays(overlays) {
    const obs = (overlays.order_blocks || []).slice(-30);
    const fvgs = (overlays.fvgs || []).slice(-12);
    const boxes = [
      ...obs.map((b) => ({
        from: b.from_time, to: b.mitigated ? b.to_time : null, top: b.top, bottom: b.bottom,
        fill: b.direction > 0 ? "rgba(38,166,154,0.16)" : "rgba(239,83,80,0.16)",
        stroke: b.direction > 0 ? "rgba(38,166,154,0.75)" : "rgba(239,83,80,0.75)",
        label: b.direction > 0 ? "OB+" : "OB-",
      })),
      ...fvgs.map((g) => ({
        from: g.from_time, to: null, top: g.top, bottom: g.bottom,
        fill: g.direction > 0 ? "rgba(66,135,245,0.13)" : "rgba(245,166,35,0.13)",
        stroke: g.direction > 0 ? "rgba(66,135,245,0.6)" : "rgba(245,166,35,0.6)",
        label: "FVG",
      })),
    ];
    this.boxes.setBoxes(boxes);
    const structure = (overlays.structure || []).slice(-60);
    this.markers.setMarkers(
      structure
        .map((s) => ({
          time: s.time,
          position: s.direction > 0 ? "belowBar" : "aboveBar",
          color: s.kind === "CHOCH" ? "#f5a623" : s.direction > 0 ? UP : DOWN,
          shape: s.direction > 0 ? "arrowUp" : "arrowDown",
          text: s.kind === "CHOCH" ? "CHoCH" : "BOS",
        }))
        .sort((a, b) => a.time - b.time),
    );
    for (const line of this.priceLines) this.candles.removePriceLine(line);
    const pools = (overlays.liquidity || []).filter((p) => !p.swept).slice(-8);
    this.priceLines = pools.map((p) =>
      this.candles.createPriceLine({
        price: p.level, color: "#b388ff", lineWidth: 1, lineStyle: 2, axisLabelVisible: true,
        title: p.direction > 0 ? "EQH" : "EQL",
      }),
    );
    this.counts = { order_blocks: obs.length, fvgs: fvgs.length, structure: structure.length, liquidity: pools.length };
  }
}

export function equityChart(container) {
  const chart = createChart(container, {
    ...THEME, autoSize: true, handleScroll: false, handleScale: false,
    timeScale: { ...THEME.timeScale, visible: false }, rightPriceScale: { borderVisible: false },
  });
  const series = chart.addSeries(LineSeries, { color: "#6cb6ff", lineWidth: 2, priceLineVisible: false });
  return {
    setCurve(points) {
      let last = 0;
      const data = [];
      for (const [ms, value] of points) {
        const time = Math.max(Math.floor(ms / 1000), last + 1);
        data.push({ time, value: Number(value) });
        last = time;
      }
      series.setData(data);
      chart.timeScale().fitContent();
    },
  };
}
