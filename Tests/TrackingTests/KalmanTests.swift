import Testing

@testable import Tracking

/// The textbook Kalman filter on the 8-vector `(cx, cy, w, h, vcx, vcy, vw, vh)` with a dense 8×8
/// covariance, written from the equations: what `BoxFilter`'s four 2×2 blocks must equal.
struct DenseFilter {
    typealias Matrix = [[Double]]
    var x: [Double]
    var p: Matrix
    let noise: MotionNoise

    static func zeros(_ r: Int, _ c: Int) -> Matrix { Array(repeating: Array(repeating: 0, count: c), count: r) }
    static func identity(_ n: Int) -> Matrix {
        var m = zeros(n, n)
        for i in 0..<n { m[i][i] = 1 }
        return m
    }
    static func mul(_ a: Matrix, _ b: Matrix) -> Matrix {
        var m = zeros(a.count, b[0].count)
        for i in a.indices { for j in b[0].indices { for k in b.indices { m[i][j] += a[i][k] * b[k][j] } } }
        return m
    }
    static func add(_ a: Matrix, _ b: Matrix, _ s: Double = 1) -> Matrix {
        a.indices.map { i in a[i].indices.map { j in a[i][j] + s * b[i][j] } }
    }
    static func transpose(_ a: Matrix) -> Matrix { a[0].indices.map { j in a.indices.map { a[$0][j] } } }
    /// Gauss–Jordan inverse (the innovation covariance is positive definite).
    static func inverse(_ a: Matrix) -> Matrix {
        let n = a.count
        var m = a
        var inv = identity(n)
        for c in 0..<n {
            let pivot = (c..<n).max { abs(m[$0][c]) < abs(m[$1][c]) }!
            m.swapAt(c, pivot)
            inv.swapAt(c, pivot)
            let d = m[c][c]
            for j in 0..<n {
                m[c][j] /= d
                inv[c][j] /= d
            }
            for r in 0..<n where r != c {
                let f = m[r][c]
                for j in 0..<n {
                    m[r][j] -= f * m[c][j]
                    inv[r][j] -= f * inv[c][j]
                }
            }
        }
        return inv
    }

    /// The per-quantity sizes the noises scale with.
    var scale: [Double] { [max(x[2], 1), max(x[3], 1), max(x[2], 1), max(x[3], 1)] }

    init(box: Box, noise: MotionNoise) {
        let c = box.centre
        x = [c[0], c[1], c[2], c[3], 0, 0, 0, 0]
        self.noise = noise
        p = Self.zeros(8, 8)
        let s = [c[2], c[3], c[2], c[3]]
        for i in 0..<4 {
            p[i][i] = (2 * noise.measurement * s[i]) * (2 * noise.measurement * s[i])
            p[i + 4][i + 4] = (noise.initialVelocity * s[i]) * (noise.initialVelocity * s[i])
        }
    }

    mutating func predict(dt: Double) {
        var f = Self.identity(8)
        var q = Self.zeros(8, 8)
        let s = scale
        for i in 0..<4 {
            f[i][i + 4] = dt
            let qi = (noise.acceleration * s[i]) * (noise.acceleration * s[i])
            q[i][i] = qi * dt * dt * dt / 3
            q[i][i + 4] = qi * dt * dt / 2
            q[i + 4][i] = qi * dt * dt / 2
            q[i + 4][i + 4] = qi * dt
        }
        x = Self.mul(f, x.map { [$0] }).map { $0[0] }
        p = Self.add(Self.mul(Self.mul(f, p), Self.transpose(f)), q)
    }

    mutating func update(_ box: Box) {
        var h = Self.zeros(4, 8)
        var r = Self.zeros(4, 4)
        let s = scale
        for i in 0..<4 {
            h[i][i] = 1
            r[i][i] = (noise.measurement * s[i]) * (noise.measurement * s[i])
        }
        let ht = Self.transpose(h)
        let innovation = Self.add(Self.mul(Self.mul(h, p), ht), r)
        let k = Self.mul(Self.mul(p, ht), Self.inverse(innovation))
        let z = box.centre
        let y = (0..<4).map { [z[$0] - x[$0]] }
        let dx = Self.mul(k, y)
        x = x.indices.map { x[$0] + dx[$0][0] }
        p = Self.mul(Self.add(Self.identity(8), Self.mul(k, h), -1), p)
    }
}

let noise = MotionNoise(measurement: 0.05, acceleration: 1, initialVelocity: 1)

/// The box of centre form `(cx, cy, w, h)`.
func centred(_ cx: Double, _ cy: Double, _ w: Double, _ h: Double) -> Box { Box(centre: SIMD4(cx, cy, w, h)) }

@Suite("Box filter")
struct KalmanTests {
    @Test("On a constant velocity the estimate converges: velocity and prediction within a pixel")
    func converges() {
        // (cx, cy) moving at (120, -45) px/s, the box growing 10 px/s wide, at irregular intervals.
        func truth(_ t: Double) -> Box { centred(100 + 120 * t, 400 - 45 * t, 50 + 10 * t, 100) }
        var f = BoxFilter(box: truth(0), noise: noise)
        var t = 0.0
        let steps = [0.033, 0.1, 0.05, 0.2, 0.033]
        for k in 0..<60 {
            let dt = steps[k % steps.count]
            t += dt
            f.predict(dt: dt, noise: noise)
            f.update(box: truth(t), noise: noise)
        }
        #expect(abs(f.velocity[0] - 120) < 1)
        #expect(abs(f.velocity[1] + 45) < 1)
        #expect(abs(f.velocity[2] - 10) < 1)
        #expect(abs(f.velocity[3]) < 1)
        f.predict(dt: 0.5, noise: noise)
        let want = truth(t + 0.5).centre
        for i in 0..<4 { #expect(abs(f.position[i] - want[i]) < 1) }
    }

    @Test("The four 2x2 blocks equal the dense 8x8 filter, mean and covariance")
    func matchesDense() {
        var rng = SeededGenerator(seed: 3)
        let start = centred(300, 200, 40, 90)
        var f = BoxFilter(box: start, noise: noise)
        var dense = DenseFilter(box: start, noise: noise)
        for k in 0..<40 {
            let dt = Double.random(in: 0.01...0.3, using: &rng)
            f.predict(dt: dt, noise: noise)
            dense.predict(dt: dt)
            if k % 4 != 3 {  // some steps predict only
                let b = centred(
                    300 + Double(k) * 7 + Double.random(in: -3...3, using: &rng), 200 + Double(k) * 2,
                    40 + Double.random(in: -2...2, using: &rng), 90 + Double.random(in: -4...4, using: &rng))
                f.update(box: b, noise: noise)
                dense.update(b)
            }
            for i in 0..<4 {
                #expect(abs(f.position[i] - dense.x[i]) < 1e-6)
                #expect(abs(f.velocity[i] - dense.x[i + 4]) < 1e-6)
            }
            for i in 0..<8 {
                for j in 0..<8 {
                    let lane = i % 4
                    var want = 0.0
                    if lane == j % 4 {
                        want = i < 4 && j < 4 ? f.pp[lane] : i >= 4 && j >= 4 ? f.vv[lane] : f.pv[lane]
                    }
                    #expect(abs(dense.p[i][j] - want) <= 1e-6 * max(1, abs(want)))
                }
            }
        }
    }

    @Test("Predicting over a then b seconds is predicting over a + b")
    func predictionComposes() {
        var one = BoxFilter(box: centred(10, 20, 30, 60), noise: noise)
        one.update(box: centred(14, 21, 31, 60), noise: noise)
        var two = one
        one.predict(dt: 0.3, noise: noise)
        two.predict(dt: 0.1, noise: noise)
        two.predict(dt: 0.2, noise: noise)
        for lanes in [(one.position, two.position), (one.velocity, two.velocity), (one.pp, two.pp), (one.pv, two.pv)] {
            for i in 0..<4 { #expect(abs(lanes.0[i] - lanes.1[i]) <= 1e-9 * max(1, abs(lanes.0[i]))) }
        }
        for i in 0..<4 { #expect(abs(one.vv[i] - two.vv[i]) <= 1e-9 * max(1, abs(one.vv[i]))) }
    }

    @Test("A zero, negative or non-finite step changes nothing")
    func badSteps() {
        let f = BoxFilter(box: centred(10, 20, 30, 60), noise: noise)
        for dt in [0, -1, Double.nan, .infinity] {
            var g = f
            g.predict(dt: dt, noise: noise)
            #expect(g == f)
        }
    }

    @Test("Boxes: invalid ones are refused; a shrunken prediction keeps a pixel; IoU")
    func boxes() {
        #expect(Box([0, 0, 10, 10]) != nil)
        for bad: [Double] in [
            [0, 0, 0, 10], [0, 0, 10], [0, 0, 10, 10, 1], [.nan, 0, 10, 10], [0, 0, .infinity, 10],
            [10, 10, 0, 0], [0, 0, 1e300, 10], [],
        ] {
            #expect(Box(bad) == nil)
        }
        let tiny = Box(centre: SIMD4(5, 5, -3, 0))
        #expect(tiny.x2 - tiny.x1 == 1 && tiny.y2 - tiny.y1 == 1)
        let a = Box([0, 0, 10, 10])!
        #expect(a.iou(Box([5, 0, 15, 10])!) == 50.0 / 150.0)
        #expect(a.iou(Box([10, 0, 20, 10])!) == 0)
        #expect(a.iou(a) == 1)
    }
}
