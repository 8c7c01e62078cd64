import Foundation

/// A small line chart written as SVG: batch sizes on a log2 x axis, one line per series, a legend.
struct SVGChart {
    struct Series {
        var name: String
        var values: [Double]
        var color: String
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var xs: [Double]
    var series: [Series]
    /// Batch sizes read best on a log2 axis; times on a linear one.
    var logX = true
    /// A dot at every point (off for long time series).
    var dots = true
    /// x values marked with a dashed vertical line (events such as model swaps), and their legend.
    var markers: [Double] = []
    var markerName = ""

    /// A whole SVG document.
    func render(width: Int, height: Int) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\">\n"
            + body(width: width, height: height) + "</svg>\n"
    }

    /// Two charts of `width` x `height`, one above the other, as one SVG document.
    static func stacked(_ top: SVGChart, _ bottom: SVGChart, width: Int, height: Int) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(2 * height)\">\n"
            + top.body(width: width, height: height) + "<g transform=\"translate(0,\(height))\">\n"
            + bottom.body(width: width, height: height) + "</g>\n</svg>\n"
    }

    /// The chart's elements, to embed in a larger SVG.
    func body(width: Int, height: Int) -> String {
        let left = 64.0
        let right = 16.0
        let top = 36.0
        let bottom = 48.0
        let legendHeight = 16.0 * Double(series.count + (markers.isEmpty ? 0 : 1))
        let plotW = Double(width) - left - right
        let plotH = Double(height) - top - bottom - legendHeight
        let lx = logX ? xs.map { log2(max($0, 1e-9)) } : xs
        let xMin = lx.min() ?? 0
        let xMax = max((lx.max() ?? 1), xMin + 1e-9)
        let yMax = niceCeiling(series.flatMap(\.values).max() ?? 1)
        func px(_ i: Int) -> Double { left + (lx[i] - xMin) / (xMax - xMin) * plotW }
        func py(_ v: Double) -> Double { top + plotH - v / yMax * plotH }

        var s = "<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>\n"
        s += text(Double(width) / 2, 20, title, size: 14, anchor: "middle", bold: true)
        for k in 0...4 {
            let v = yMax * Double(k) / 4
            let y = py(v)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            s += text(left - 6, y + 4, label(v), size: 11, anchor: "end")
        }
        if logX || xs.count <= 12 {
            for (i, x) in xs.enumerated() { s += text(px(i), top + plotH + 16, label(x), size: 11, anchor: "middle") }
        } else {
            for k in 0...5 {
                let x = xMin + (xMax - xMin) * Double(k) / 5
                s += text(
                    left + Double(k) / 5 * plotW, top + plotH + 16, label(x.rounded()), size: 11, anchor: "middle")
            }
        }
        s +=
            "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"#333\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\" stroke=\"#333\"/>\n"
        s += text(left + plotW / 2, top + plotH + 34, xLabel, size: 12, anchor: "middle")
        s +=
            "<text x=\"14\" y=\"\(f(top + plotH / 2))\" font-family=\"sans-serif\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(top + plotH / 2)))\">\(escape(yLabel))</text>\n"
        for (k, line) in series.enumerated() {
            let points = line.values.indices.filter { $0 < xs.count }.map { "\(f(px($0))),\(f(py(line.values[$0])))" }
            let dash = line.dashed ? " stroke-dasharray=\"6,4\"" : ""
            s +=
                "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            for p in points where dots {
                let xy = p.split(separator: ",")
                s += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
            let ly = Double(height) - legendHeight - 4 + 16 * Double(k) + 8
            s +=
                "<line x1=\"\(f(left))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>\n"
            s += text(left + 30, ly, line.name, size: 11, anchor: "start")
        }
        if !markers.isEmpty {
            for m in markers {
                let x = left + ((logX ? log2(max(m, 1e-9)) : m) - xMin) / (xMax - xMin) * plotW
                s +=
                    "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#555\" stroke-dasharray=\"3,3\"/>\n"
            }
            let ly = Double(height) - 4 - 16 + 8
            s +=
                "<line x1=\"\(f(left))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 24))\" y2=\"\(f(ly - 4))\" stroke=\"#555\" stroke-dasharray=\"3,3\"/>\n"
            s += text(left + 30, ly, markerName, size: 11, anchor: "start")
        }
        return s
    }

    private func text(_ x: Double, _ y: Double, _ t: String, size: Int, anchor: String, bold: Bool = false) -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-family=\"sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\""
            + (bold ? " font-weight=\"bold\"" : "") + ">\(escape(t))</text>\n"
    }

    private func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if v >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
        if v >= 1 { return String(format: "%.1f", v) }
        return String(format: "%.3g", v)
    }

    private func niceCeiling(_ v: Double) -> Double {
        guard v > 0 else { return 1 }
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= v { return m * p }
        return 10 * p
    }
}
