/// Motion gating: whether a frame's scene changed since the detector last ran on the stream, from a
/// small grey copy of the frame. A value type with no I/O, fed the frames the stream's interval
/// would send to the detector, in order.
///
/// The grey copy is `columns` x `rows` cells, each the mean luma of a grid of samples in its part
/// of the frame (a cell of a 1280x720 frame is 20x20 pixels at the default 64x36; 16 samples
/// each: about 37k pixel reads a frame, some 20 µs). A cell changed when its mean moved by more
/// than `cellThreshold` grey levels from the copy taken when the detector last ran; the scene
/// changed when at least `changedCells` cells did: one walker far off covers a few cells, while
/// sensor noise and compression flicker, averaged over 16 samples, stay within the threshold.
/// Comparing with the last detected frame, not the previous one, catches slow changes too.
///
/// A still scene is still detected once every `floor` seconds (a parked car that leaves, a track
/// held), and a change sends the next frame to the detector at once.
public struct MotionGate: Sendable {
    /// Cells across and down.
    public let columns: Int
    public let rows: Int
    /// Grey levels (0...255) a cell's mean must move to count as changed.
    public var cellThreshold: Int
    /// Cells that must change for the scene to count as changed.
    public var changedCells: Int
    /// Seconds between detections of a still scene.
    public var floor: Double

    /// The grey copy when the detector last ran; nil before the first frame.
    private var reference: [Int32]?
    private var scratch: [Int32] = []
    private var lastDetected = -Double.infinity
    /// Whether the last frame looked at was still.
    public private(set) var still = false

    /// A gate of `columns` x `rows` cells.
    public init(
        columns: Int = 64, rows: Int = 36, cellThreshold: Int = 8, changedCells: Int = 2, floor: Double = 1
    ) {
        self.columns = max(1, columns)
        self.rows = max(1, rows)
        self.cellThreshold = max(0, cellThreshold)
        self.changedCells = max(1, changedCells)
        self.floor = floor
    }

    /// Whether the detector should run on this frame (packed RGB24, `width` x `height`, at stream
    /// time `time` seconds): the first frame, a changed scene, or a still one whose floor is due. A
    /// frame whose size differs from the last one detected counts as changed; a time earlier than
    /// the last detection (a file that loops) starts the floor again.
    public mutating func shouldDetect(rgb pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, time: Double)
        -> Bool
    {
        guard width > 0, height > 0, pixels.count >= width * height * 3 else { return true }
        grey(pixels, width: width, height: height, into: &scratch)
        let changed: Bool
        if let reference, reference.count == scratch.count {
            var cells = 0
            for i in 0..<scratch.count where abs(scratch[i] - reference[i]) > Int32(cellThreshold) {
                cells += 1
                if cells >= changedCells { break }
            }
            changed = cells >= changedCells
        } else {
            changed = true
        }
        if time < lastDetected { lastDetected = -.infinity }
        still = !changed
        guard changed || !time.isFinite || time - lastDetected >= floor else { return false }
        lastDetected = time.isFinite ? time : lastDetected
        if reference == nil { reference = scratch } else { swap(&scratch, &reference!) }
        return true
    }

    /// The mean luma of each cell, from a 4x4 grid of samples in it (cells smaller than that take
    /// what pixels they have).
    private func grey(_ p: UnsafeBufferPointer<UInt8>, width: Int, height: Int, into out: inout [Int32]) {
        let cols = min(columns, width)
        let rws = min(rows, height)
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(cols * rws)
        for r in 0..<rws {
            let y0 = r * height / rws
            let y1 = max(y0 + 1, (r + 1) * height / rws)
            for c in 0..<cols {
                let x0 = c * width / cols
                let x1 = max(x0 + 1, (c + 1) * width / cols)
                var sum: Int32 = 0
                var n: Int32 = 0
                for sy in 0..<4 {
                    let y = y0 + (y1 - y0) * (2 * sy + 1) / 8
                    for sx in 0..<4 {
                        let x = x0 + (x1 - x0) * (2 * sx + 1) / 8
                        let o = (y * width + x) * 3
                        // Rec. 601 luma in integers: (77 R + 150 G + 29 B) / 256.
                        sum += (77 * Int32(p[o]) + 150 * Int32(p[o + 1]) + 29 * Int32(p[o + 2])) >> 8
                        n += 1
                    }
                }
                out.append(sum / n)
            }
        }
    }
}
