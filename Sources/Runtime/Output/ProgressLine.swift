import Core
import Foundation
import Monitoring

#if canImport(Glibc)
    import Glibc
#endif

/// A one-line progress report on standard error (frames, fps, time left), redrawn in place.
/// Silent when standard error is not a terminal.
struct ProgressLine {
    private let enabled: Bool
    private let total: Int?
    private let start = Clock.now
    private var last = 0.0
    private var drawn = false

    init(enabled: Bool, total: Int?) {
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
        self.total = total
    }

    mutating func update(frames: Int) {
        guard enabled else { return }
        let now = Clock.now
        guard now - last >= 0.25 else { return }
        last = now
        let elapsed = max(now - start, 1e-6)
        let fps = Double(frames) / elapsed
        var line = "frames \(frames)"
        if let total, total > 0 {
            line += "/\(total)"
            if fps > 0 { line += String(format: "  %.1f fps  %.0f s left", fps, Double(max(total - frames, 0)) / fps) }
        } else {
            line += String(format: "  %.1f fps", fps)
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    mutating func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}
