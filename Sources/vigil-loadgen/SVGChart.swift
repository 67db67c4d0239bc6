import Foundation

/// A small SVG line chart: panels stacked on one time axis, each with its own y scale and a legend.
struct SVGChart {
    var width: Double
    var panelHeight: Double
    var xMax: Double
    var xLabel: String
    private var panels: [(title: String, series: [(name: String, color: String, points: [(Double, Double)])])] = []

    init(width: Double, panelHeight: Double, xMax: Double, xLabel: String) {
        self.width = width
        self.panelHeight = panelHeight
        self.xMax = xMax
        self.xLabel = xLabel
    }

    mutating func panel(title: String, series: [(name: String, color: String, points: [(Double, Double)])]) {
        panels.append((title, series))
    }

    func render() -> String {
        let left = 70.0, right = 20.0, top = 30.0, gap = 45.0
        let plotWidth = width - left - right
        let height = top + Double(panels.count) * (panelHeight + gap) + 10
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        func label(_ value: Double) -> String {
            abs(value) >= 1000 ? String(format: "%.0f", value) : abs(value) >= 10 ? String(format: "%.1f", value) : String(format: "%.2f", value)
        }
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for (index, panel) in panels.enumerated() {
            let y0 = top + Double(index) * (panelHeight + gap)
            let values = panel.series.flatMap { $0.points.map(\.1) }
            let yMax = max((values.max() ?? 1) * 1.1, 1e-9)
            func px(_ x: Double) -> Double { left + plotWidth * min(max(x / max(xMax, 1e-9), 0), 1) }
            func py(_ y: Double) -> Double { y0 + panelHeight - panelHeight * min(max(y / yMax, 0), 1) }
            svg += "<text x=\"\(number(left))\" y=\"\(number(y0 - 8))\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
            svg += "<rect x=\"\(number(left))\" y=\"\(number(y0))\" width=\"\(number(plotWidth))\" height=\"\(number(panelHeight))\" "
                + "fill=\"none\" stroke=\"#888\"/>\n"
            for tick in 0...4 {
                let value = yMax * Double(tick) / 4
                svg += "<text x=\"\(number(left - 5))\" y=\"\(number(py(value) + 4))\" text-anchor=\"end\">\(label(value))</text>\n"
                svg += "<line x1=\"\(number(left))\" x2=\"\(number(left + plotWidth))\" y1=\"\(number(py(value)))\" y2=\"\(number(py(value)))\" "
                    + "stroke=\"#eee\"/>\n"
                let x = xMax * Double(tick) / 4
                svg += "<text x=\"\(number(px(x)))\" y=\"\(number(y0 + panelHeight + 14))\" text-anchor=\"middle\">\(label(x))</text>\n"
            }
            for (seriesIndex, series) in panel.series.enumerated() {
                let legendX = left + plotWidth - 90 * Double(panel.series.count - seriesIndex)
                svg += "<text x=\"\(number(legendX))\" y=\"\(number(y0 - 8))\" fill=\"\(series.color)\">\(escape(series.name))</text>\n"
                guard !series.points.isEmpty else {
                    svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(y0 + panelHeight / 2))\" text-anchor=\"middle\" "
                        + "fill=\"#888\">no data</text>\n"
                    continue
                }
                let path = series.points.map { "\(number(px($0.0))),\(number(py($0.1)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            }
        }
        svg += "<text x=\"\(number(left + plotWidth / 2))\" y=\"\(number(height - 4))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        return svg + "</svg>\n"
    }
}
