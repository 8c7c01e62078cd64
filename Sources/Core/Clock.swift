import Foundation

/// Monotonic time in seconds, shared by every layer (stages, the batch size manager, the monitor).
public enum Clock {
    /// Seconds since an arbitrary start, never going back.
    public static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
