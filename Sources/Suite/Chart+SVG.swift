import Foundation

/// Charts for the reports, written as SVG text (no dependency; GitHub renders them):
/// a dot chart of a table's cells beside the paper's numbers, and line charts of a
/// training stage's per-epoch curves.
public enum SVGChart {
    static let width = 760.0
    static let font = "DejaVu Sans, Helvetica, Arial, sans-serif"
    static let ours = "#1f77b4"
    static let paper = "#e66101"
    static let palette = ["#1f77b4", "#e66101", "#2ca02c", "#9467bd", "#8c564b", "#d62728", "#17becf", "#7f7f7f"]

    // MARK: Dot chart of a table

    public struct DotRow: Sendable {
        public var label: String
        public var ours: Double?
        /// Error bar (lower, upper) around `ours`.
        public var error: (Double, Double)?
        public var paper: Double?
        /// Shown at the right (n, or why there is no dot).
        public var note: String = ""
        public init(label: String, ours: Double? = nil, error: (Double, Double)? = nil, paper: Double? = nil, note: String = "") {
            self.label = label; self.ours = ours; self.error = error; self.paper = paper; self.note = note
        }
    }

    public struct DotPanel: Sendable {
        public var title: String
        public var rows: [DotRow]
        public init(title: String, rows: [DotRow]) { self.title = title; self.rows = rows }
    }

    /// Panels stacked vertically, one row per cell: ours as a dot with its error bar, the
    /// paper's number as a hollow diamond, on a shared value axis per panel.
    public static func dots(title: String, subtitle: String, unit: String, panels: [DotPanel]) -> String {
        let longest = panels.flatMap { $0.rows.map(\.label.count) }.max() ?? 10
        // Long row labels widen the chart rather than being cut at its left edge.
        let labelWidth = max(120, Double(longest) * 6.8 + 20)
        let noteWidth = 150.0
        let width = Self.width + max(0, labelWidth - 330)
        let left = labelWidth, right = width - noteWidth
        let rowHeight = 24.0
        var svg = SVG()
        var y = 6.0
        for line in wrap(title, columns: 84) { y += 18; svg.text(line, x: 12, y: y, size: 15, weight: "bold") }
        y += 18
        svg.text(subtitle, x: 12, y: y, size: 12, fill: "#555")
        y += 20
        // Legend.
        svg.circle(x: 20, y: y - 4, r: 5, fill: ours)
        svg.line(x1: 10, y1: y - 4, x2: 30, y2: y - 4, stroke: ours, width: 1.5)
        svg.text("ours: mean ± seed std (n ≥ 2) or 95 % test-set CI (n = 1)", x: 38, y: y, size: 12)
        svg.diamond(x: 430, y: y - 4, size: 6, stroke: paper)
        svg.text("paper", x: 442, y: y, size: 12)
        y += 16
        for panel in panels {
            y += 22
            svg.text(panel.title, x: 12, y: y, size: 13, weight: "bold")
            y += 10
            var values: [Double] = []
            for r in panel.rows {
                if let o = r.ours { values.append(o) }
                if let e = r.error { values += [e.0, e.1] }
                if let p = r.paper { values.append(p) }
            }
            let axis = NiceAxis(values + [0])
            let x = { (v: Double) in left + (v - axis.lower) / (axis.upper - axis.lower) * (right - left) }
            let top = y, bottom = y + Double(panel.rows.count) * rowHeight
            for t in axis.ticks {
                svg.line(x1: x(t), y1: top, x2: x(t), y2: bottom, stroke: "#e4e4e4", width: 1)
                svg.text(axis.label(t), x: x(t), y: bottom + 16, size: 11, anchor: "middle", fill: "#444")
            }
            svg.line(x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#444", width: 1)
            svg.line(x1: left, y1: top, x2: left, y2: bottom, stroke: "#444", width: 1)
            svg.text(unit, x: (left + right) / 2, y: bottom + 31, size: 11, anchor: "middle", fill: "#444")
            for (i, r) in panel.rows.enumerated() {
                let cy = top + (Double(i) + 0.5) * rowHeight
                svg.text(r.label, x: left - 8, y: cy + 4, size: 12, anchor: "end")
                if let e = r.error {
                    svg.line(x1: x(e.0), y1: cy, x2: x(e.1), y2: cy, stroke: ours, width: 1.5)
                    for v in [e.0, e.1] { svg.line(x1: x(v), y1: cy - 5, x2: x(v), y2: cy + 5, stroke: ours, width: 1.5) }
                }
                if let p = r.paper { svg.diamond(x: x(p), y: cy, size: 6, stroke: paper) }
                if let o = r.ours { svg.circle(x: x(o), y: cy, r: 5, fill: ours) }
                svg.text(r.note, x: right + 10, y: cy + 4, size: 11, fill: "#555")
            }
            y = bottom + 38
        }
        return svg.document(width: width, height: y + 4)
    }

    /// Splits text at spaces into lines of at most `columns` characters (longer words stay whole).
    static func wrap(_ text: String, columns: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > columns { lines.append(current); current = "" }
            current += (current.isEmpty ? "" : " ") + word
        }
        return lines + (current.isEmpty ? [] : [current])
    }

    // MARK: Line charts of training curves

    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { self.name = name; self.points = points }
    }

    public struct LinePanel: Sendable {
        public var title: String
        public var series: [Series]
        public init(title: String, series: [Series]) { self.title = title; self.series = series }
    }

    /// Panels stacked vertically on a shared x axis (`xLabel`), a legend beside each panel.
    public static func lines(title: String, subtitle: String, xLabel: String, panels: [LinePanel]) -> String {
        let left = 72.0, right = width - 190, panelHeight = 170.0
        var svg = SVG()
        var y = 6.0
        for line in wrap(title, columns: 84) { y += 18; svg.text(line, x: 12, y: y, size: 15, weight: "bold") }
        y += 18
        svg.text(subtitle, x: 12, y: y, size: 12, fill: "#555")
        y += 8
        let xs = panels.flatMap { $0.series.flatMap { $0.points.map(\.x) } }
        let xAxis = NiceAxis(xs.isEmpty ? [0, 1] : xs, integer: true)
        let x = { (v: Double) in left + (v - xAxis.lower) / (xAxis.upper - xAxis.lower) * (right - left) }
        for panel in panels {
            y += 30
            svg.text(panel.title, x: 12, y: y, size: 13, weight: "bold")
            y += 10
            let top = y, bottom = y + panelHeight
            let yAxis = NiceAxis(panel.series.flatMap { $0.points.map(\.y) })
            let py = { (v: Double) in bottom - (v - yAxis.lower) / (yAxis.upper - yAxis.lower) * panelHeight }
            for t in yAxis.ticks {
                svg.line(x1: left, y1: py(t), x2: right, y2: py(t), stroke: "#e4e4e4", width: 1)
                svg.text(yAxis.label(t), x: left - 6, y: py(t) + 4, size: 11, anchor: "end", fill: "#444")
            }
            for t in xAxis.ticks {
                svg.line(x1: x(t), y1: bottom, x2: x(t), y2: bottom + 4, stroke: "#444", width: 1)
                svg.text(xAxis.label(t), x: x(t), y: bottom + 17, size: 11, anchor: "middle", fill: "#444")
            }
            svg.line(x1: left, y1: bottom, x2: right, y2: bottom, stroke: "#444", width: 1)
            svg.line(x1: left, y1: top, x2: left, y2: bottom, stroke: "#444", width: 1)
            svg.text(xLabel, x: (left + right) / 2, y: bottom + 32, size: 11, anchor: "middle", fill: "#444")
            for (i, s) in panel.series.enumerated() {
                let color = palette[i % palette.count]
                let pts = s.points.map { (x($0.x), py($0.y)) }
                if pts.count > 1 { svg.polyline(pts, stroke: color, width: 2) }
                if pts.count <= 40 { for p in pts { svg.circle(x: p.0, y: p.1, r: 3, fill: color) } }
                let ly = top + 14 + Double(i) * 18
                svg.line(x1: right + 16, y1: ly - 4, x2: right + 36, y2: ly - 4, stroke: color, width: 2)
                svg.text(s.name, x: right + 42, y: ly, size: 12)
            }
            y = bottom + 36
        }
        return svg.document(width: width, height: y + 8)
    }

    /// The curves of an epoch log (`epochs.json`: `{"values": [{"epoch": 0, "loss": …}, …]}`):
    /// losses in one panel, accuracies (×100) in another, the learning rate in a third, any
    /// other value in its own. Epochs are counted from 1. Nil when the log has no curve.
    public static func epochCurves(_ log: Data, title: String, subtitle: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: log) as? [String: Any],
              let rows = object["values"] as? [[String: Any]] else { return nil }
        var series: [String: [(x: Double, y: Double)]] = [:]
        for (i, row) in rows.enumerated() {
            let epoch = (row["epoch"] as? NSNumber)?.doubleValue ?? Double(i)
            for (key, value) in row where key != "epoch" {
                guard let v = (value as? NSNumber)?.doubleValue, v.isFinite else { continue }
                series[key, default: []].append((epoch + 1, v))
            }
        }
        func group(_ name: String) -> String {
            if name.hasPrefix("loss") { return "loss" }
            if name == "lr" || name.hasPrefix("lr.") || name.contains("learning_rate") { return "learning rate" }
            if name.contains("top1") || name.contains("top5") || name.contains("acc") { return "accuracy (%)" }
            return name
        }
        var order = ["loss", "accuracy (%)", "learning rate"]
        for name in series.keys.sorted() where !order.contains(group(name)) { order.append(group(name)) }
        let panels = order.compactMap { g -> LinePanel? in
            let names = series.keys.filter { group($0) == g }.sorted { a, b in
                // The total loss first, then the levels.
                (a == g ? 0 : 1, a) < (b == g ? 0 : 1, b)
            }
            guard !names.isEmpty else { return nil }
            return LinePanel(title: g, series: names.map { n in
                Series(name: n, points: series[n]!.sorted { $0.x < $1.x }.map { (x: $0.x, y: g == "accuracy (%)" ? $0.y * 100 : $0.y) })
            })
        }
        guard !panels.isEmpty else { return nil }
        return lines(title: title, subtitle: subtitle, xLabel: "epoch", panels: panels)
    }
}

/// Axis bounds and ticks at 1, 2 or 5 × 10^k covering some values.
struct NiceAxis {
    var lower: Double
    var upper: Double
    var step: Double

    init(_ values: [Double], integer: Bool = false, ticks: Int = 5) {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if !(lo.isFinite && hi.isFinite) { lo = 0; hi = 1 }
        if hi - lo < 1e-12 { let pad = max(abs(hi) * 0.1, integer ? 1 : 1e-3); lo -= pad; hi += pad }
        let raw = (hi - lo) / Double(ticks)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        var step = ([1.0, 2, 5, 10].first { $0 * magnitude >= raw } ?? 10) * magnitude
        if integer { step = max(1, step.rounded()) }
        self.step = step
        lower = (lo / step).rounded(.down) * step
        upper = (hi / step).rounded(.up) * step
    }

    var ticks: [Double] {
        let n = Int(((upper - lower) / step).rounded())
        return (0...n).map { lower + Double($0) * step }
    }

    func label(_ v: Double) -> String {
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return NumberText.plain(v, percent: false, decimals: decimals)
    }
}

/// A minimal SVG writer: elements appended as text, attributes escaped.
struct SVG {
    var body: [String] = []

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    static func n(_ x: Double) -> String { String(format: "%.1f", x) }

    mutating func text(_ s: String, x: Double, y: Double, size: Double, anchor: String = "start", weight: String = "normal",
                       fill: String = "#222") {
        body.append("<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(Self.n(size))\" text-anchor=\"\(anchor)\" "
                    + "font-weight=\"\(weight)\" fill=\"\(fill)\">\(Self.escape(s))</text>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double) {
        body.append("<line x1=\"\(Self.n(x1))\" y1=\"\(Self.n(y1))\" x2=\"\(Self.n(x2))\" y2=\"\(Self.n(y2))\" "
                    + "stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\"/>")
    }

    mutating func circle(x: Double, y: Double, r: Double, fill: String) {
        body.append("<circle cx=\"\(Self.n(x))\" cy=\"\(Self.n(y))\" r=\"\(Self.n(r))\" fill=\"\(fill)\"/>")
    }

    mutating func diamond(x: Double, y: Double, size: Double, stroke: String) {
        let pts = [(x, y - size), (x + size, y), (x, y + size), (x - size, y)].map { "\(Self.n($0.0)),\(Self.n($0.1))" }
        body.append("<polygon points=\"\(pts.joined(separator: " "))\" fill=\"white\" stroke=\"\(stroke)\" stroke-width=\"2\"/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double) {
        let pts = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.n(width))\" stroke-linejoin=\"round\"/>")
    }

    func document(width: Double, height: Double) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" "
        out += "viewBox=\"0 0 \(Self.n(width)) \(Self.n(height))\" font-family=\"\(SVGChart.font)\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Self.n(width))\" height=\"\(Self.n(height))\" fill=\"white\"/>\n"
        out += body.joined(separator: "\n")
        return out + "\n</svg>\n"
    }
}
