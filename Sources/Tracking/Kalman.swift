/// A box in pixels, `x1 < x2`, `y1 < y2`, every coordinate finite and within ±`Box.limit`.
struct Box: Sendable, Equatable {
    /// Left edge.
    var x1: Double
    /// Top edge.
    var y1: Double
    /// Right edge.
    var x2: Double
    /// Bottom edge.
    var y2: Double

    /// Largest coordinate magnitude accepted: far beyond any frame, and small enough that areas and
    /// the filter's squares stay finite.
    static let limit = 1e7

    /// The box of a detection's `[x1, y1, x2, y2]`; nil unless it has four finite coordinates
    /// within `limit` and a positive width and height.
    init?(_ v: [Double]) {
        guard v.count == 4 else { return nil }
        for x in v where !(abs(x) <= Box.limit) { return nil }  // NaN fails the comparison too
        guard v[2] > v[0], v[3] > v[1] else { return nil }
        (x1, y1, x2, y2) = (v[0], v[1], v[2], v[3])
    }

    /// The box of a centre form `(cx, cy, w, h)`, its width and height held at one pixel or more (a
    /// prediction whose size velocity is negative may shrink below that).
    init(centre c: SIMD4<Double>) {
        let w = max(c[2], 1)
        let h = max(c[3], 1)
        (x1, y1, x2, y2) = (c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2)
    }

    /// `(cx, cy, w, h)`: the filter's measurement.
    var centre: SIMD4<Double> { SIMD4((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1) }

    /// `[x1, y1, x2, y2]`, as `Detection.box` has it.
    var array: [Double] { [x1, y1, x2, y2] }

    /// Intersection over union; 0 for boxes that do not overlap. Inlined: the tracker calls it for
    /// every track and detection, and most pairs end at the first test.
    @inline(__always)
    func iou(_ o: Box) -> Double {
        let ix = min(x2, o.x2) - max(x1, o.x1)
        guard ix > 0 else { return 0 }
        let iy = min(y2, o.y2) - max(y1, o.y1)
        guard iy > 0 else { return 0 }
        let inter = ix * iy
        return inter / ((x2 - x1) * (y2 - y1) + (o.x2 - o.x1) * (o.y2 - o.y1) - inter)
    }
}

/// The noise levels of `BoxFilter`, from `TrackerConfig`'s motion section.
struct MotionNoise: Sendable, Equatable {
    /// Measurement standard deviation, a fraction of the box's size.
    var measurement: Double
    /// Acceleration spectral density, a fraction of the box's size per s² per √Hz.
    var acceleration: Double
    /// A new track's velocity standard deviation, a fraction of its size per second.
    var initialVelocity: Double
}

/// A constant-velocity Kalman filter on a box: state `(cx, cy, w, h)` and their velocities in pixels
/// per second, measured as `(cx, cy, w, h)`; time steps in seconds, so prediction over skipped frames
/// or an irregular detector interval is the same model as over one frame.
///
/// Width and height rather than SORT's aspect ratio: each is scaled by itself (x and width by the
/// width, y and height by the height), and a box's width changes on its own (a person turning) without
/// an aspect velocity that moves both. The state is the textbook 8-vector with an 8×8 covariance,
/// but the model moves each of the four quantities by its own velocity only, the noise is per quantity
/// and the measurement is the four positions, so a covariance that starts block-diagonal stays so:
/// every cross term between two quantities is zero forever. The covariance is therefore kept exactly
/// as four symmetric 2×2 blocks (position variance, position–velocity covariance, velocity variance),
/// one SIMD lane per quantity: the same numbers as the dense 8×8 algebra (a test checks it), without
/// allocation or 8×8 products.
///
/// Process noise is continuous white-noise acceleration, `Q = q·[[dt³/3, dt²/2], [dt²/2, dt]]` per
/// quantity with `q = (accelerationNoise·size)²`: predicting over `a` then `b` seconds gives the same
/// mean and covariance as over `a + b`, so predicting on frames the detector skipped changes nothing
/// that a later update sees.
struct BoxFilter: Sendable, Equatable {
    /// `(cx, cy, w, h)`, pixels.
    var position: SIMD4<Double>
    /// Their velocities, pixels per second.
    var velocity: SIMD4<Double>
    /// Variance of each position.
    var pp: SIMD4<Double>
    /// Covariance of each position with its velocity.
    var pv: SIMD4<Double>
    /// Variance of each velocity.
    var vv: SIMD4<Double>

    /// A filter at `box`, at rest with an uncertain velocity.
    init(box: Box, noise: MotionNoise) {
        position = box.centre
        velocity = .zero
        let s = Self.scale(position)
        let p = 2 * noise.measurement * s
        let v = noise.initialVelocity * s
        pp = p * p
        pv = .zero
        vv = v * v
    }

    /// The box at the current estimate.
    var box: Box { Box(centre: position) }

    /// Per-lane size the noises are fractions of: width for cx and w, height for cy and h, at least
    /// one pixel.
    static func scale(_ position: SIMD4<Double>) -> SIMD4<Double> {
        let w = max(position[2], 1)
        let h = max(position[3], 1)
        return SIMD4(w, h, w, h)
    }

    /// Moves the estimate `dt` seconds on. Nothing happens for `dt <= 0` or a non-finite `dt`.
    mutating func predict(dt: Double, noise: MotionNoise) {
        guard dt > 0, dt.isFinite else { return }
        let s = Self.scale(position) * noise.acceleration
        let q = s * s
        position += velocity * dt
        // P' = F P Fᵀ + Q with F = [[1, dt], [0, 1]], on the old blocks.
        let dt2: Double = dt * dt
        let dt3: Double = dt2 * dt / 3
        let cross: SIMD4<Double> = pv + pv + vv * dt
        pp += cross * dt + q * dt3
        pv += vv * dt + q * (dt2 / 2)
        vv += q * dt
    }

    /// Corrects the estimate with a detected box.
    mutating func update(box: Box, noise: MotionNoise) {
        let r = Self.scale(position) * noise.measurement
        let s = pp + r * r
        let k1 = pp / s  // gain on position
        let k2 = pv / s  // gain on velocity
        let y = box.centre - position
        position += k1 * y
        velocity += k2 * y
        // P' = (I - K H) P, on the old blocks.
        vv -= k2 * pv
        pv -= k1 * pv
        pp -= k1 * pp
    }

    /// Stops the size from changing (a lost track's box keeps its last size rather than growing or
    /// shrinking while nothing is seen, as ByteTrack does).
    mutating func freezeSize() {
        velocity[2] = 0
        velocity[3] = 0
    }
}
