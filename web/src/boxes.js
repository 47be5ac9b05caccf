// A lightweight-charts series primitive drawing price/time boxes (order blocks, fair value gaps).
export class BoxesPrimitive {
  constructor() {
    this.boxes = [];
    this.chart = null;
    this.series = null;
    this.requestUpdate = null;
  }

  attached({ chart, series, requestUpdate }) {
    this.chart = chart;
    this.series = series;
    this.requestUpdate = requestUpdate;
  }

  detached() {
    this.chart = this.series = this.requestUpdate = null;
  }

  setBoxes(boxes) {
    this.boxes = boxes;
    this.requestUpdate?.();
  }

  updateAllViews() {}

  paneViews() {
    const self = this;
    return [
      {
        zOrder: () => "bottom",
        renderer: () => ({
          draw(target) {
            if (!self.chart || !self.series) return;
            const timeScale = self.chart.timeScale();
            target.useBitmapCoordinateSpace(({ context, horizontalPixelRatio: hr, verticalPixelRatio: vr, bitmapSize }) => {
              for (const box of self.boxes) {
                const x1 = timeScale.timeToCoordinate(box.from);
                const x2 = box.to == null ? null : timeScale.timeToCoordinate(box.to);
                const y1 = self.series.priceToCoordinate(box.top);
                const y2 = self.series.priceToCoordinate(box.bottom);
                if (x1 == null || y1 == null || y2 == null) continue;
                const left = Math.round(x1 * hr);
                const right = x2 == null ? bitmapSize.width : Math.round(x2 * hr);
                const top = Math.round(Math.min(y1, y2) * vr);
                const height = Math.max(1, Math.round(Math.abs(y2 - y1) * vr));
                context.fillStyle = box.fill;
                context.fillRect(left, top, Math.max(1, right - left), height);
                context.strokeStyle = box.stroke;
                context.lineWidth = Math.max(1, Math.round(hr));
                context.strokeRect(left + 0.5, top + 0.5, Math.max(1, right - left), height);
                if (box.label && height >= 14 * vr) {
                  context.fillStyle = box.stroke;
                  context.font = `${Math.round(10 * vr)}px system-ui, sans-serif`;
                  context.fillText(box.label, left + 4 * hr, top + 11 * vr);
                }
              }
            });
          },
        }),
      },
    ];
  }
}
