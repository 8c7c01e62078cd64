/// Draws detections onto an RGB24 frame: a box per detection and its score above it.
public struct Annotator: Sendable {
    /// Box line width in pixels.
    public var thickness = 2
    /// Glyph scale (each font pixel becomes scale x scale pixels).
    public var scale = 2

    /// Creates an annotator.
    public init() {}

    /// Draws `detections` on `pixels` (`width * height * 3` bytes, RGB).
    public func draw(_ detections: [Detection], on pixels: inout [UInt8], width: Int, height: Int) {
        for d in detections {
            let color = Self.palette[abs(d.classId) % Self.palette.count]
            let x1 = Int(d.box[0].rounded())
            let y1 = Int(d.box[1].rounded())
            let x2 = Int(d.box[2].rounded()) - 1
            let y2 = Int(d.box[3].rounded()) - 1
            for t in 0..<thickness {
                fill(&pixels, width, height, x1, y1 + t, x2, y1 + t, color)
                fill(&pixels, width, height, x1, y2 - t, x2, y2 - t, color)
                fill(&pixels, width, height, x1 + t, y1, x1 + t, y2, color)
                fill(&pixels, width, height, x2 - t, y1, x2 - t, y2, color)
            }
            let text = String(Int((d.score * 100).rounded())) + "%"
            let glyphH = 5 * scale
            let top = y1 - glyphH - 2 >= 0 ? y1 - glyphH - 2 : y1 + thickness + 1
            var x = x1
            for ch in text {
                guard let rows = Self.font[ch] else { continue }
                for (r, bits) in rows.enumerated() {
                    for col in 0..<3 where bits & (4 >> col) != 0 {
                        let px = x + col * scale
                        let py = top + r * scale
                        fill(&pixels, width, height, px, py, px + scale - 1, py + scale - 1, color)
                    }
                }
                x += 4 * scale
            }
        }
    }

    private func fill(
        _ p: inout [UInt8], _ w: Int, _ h: Int, _ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, _ c: (UInt8, UInt8, UInt8)
    ) {
        let x0 = max(0, min(xa, xb))
        let x1 = min(w - 1, max(xa, xb))
        let y0 = max(0, min(ya, yb))
        let y1 = min(h - 1, max(ya, yb))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            var i = (y * w + x0) * 3
            for _ in x0...x1 {
                p[i] = c.0
                p[i + 1] = c.1
                p[i + 2] = c.2
                i += 3
            }
        }
    }

    static let palette: [(UInt8, UInt8, UInt8)] = [(0, 255, 0), (255, 64, 64), (64, 160, 255), (255, 200, 0)]

    /// 3x5 glyphs, one row a value, high bit leftmost.
    static let font: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
        "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 2, 2],
        "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], "%": [5, 1, 2, 4, 5], ".": [0, 0, 0, 0, 2],
    ]
}
