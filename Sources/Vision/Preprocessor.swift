/// A packed RGB24 picture lent for reading.
public struct RGBImage {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `width * height * 3` bytes, R G B.
    public var pixels: UnsafeBufferPointer<UInt8>

    /// Wraps `pixels`, which must hold `width * height * 3` bytes.
    public init(width: Int, height: Int, pixels: UnsafeBufferPointer<UInt8>) {
        precondition(pixels.count >= width * height * 3, "RGB image buffer too small")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Turns a frame into one model input, exactly as the model expects it: resize by the sidecar's
/// mode, channel order, layout, element type and normalisation.
///
/// A value type holding tables computed once per source size; safe to copy to several workers.
public struct Preprocessor: Sendable {
    /// The input the model takes.
    public let input: ModelSpec.InputSpec
    private var cachedSize: (width: Int, height: Int) = (0, 0)
    private var xAxis: ResizeAxis?
    private var yAxis: ResizeAxis?

    /// Bytes one preprocessed frame takes in the model's input tensor.
    public let bytesPerFrame: Int
    // The sidecar's choices, read once rather than per frame.
    private let swapRB: Bool
    private let bytesNHWC: Bool
    private let planar: Bool
    private let asFloat: Bool
    private let mean: [Float]
    private let std: [Float]

    /// Creates a preprocessor for `input`.
    public init(input: ModelSpec.InputSpec) {
        self.input = input
        asFloat = input.type == .f32
        bytesPerFrame = input.width * input.height * 3 * (asFloat ? 4 : 1)
        swapRB = input.color == .bgr
        bytesNHWC = input.type == .u8 && input.layout == .nhwc
        planar = input.layout == .nchw
        mean = input.mean ?? [0, 0, 0]
        std = input.std ?? [1, 1, 1]
    }

    /// Writes `image`, preprocessed, to `destination` (at least `bytesPerFrame` bytes).
    public mutating func run(_ image: RGBImage, into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= bytesPerFrame, "destination too small for one input")
        if cachedSize != (image.width, image.height) || xAxis == nil {
            xAxis = ResizeAxis(source: image.width, destination: input.width, mode: input.resize)
            yAxis = ResizeAxis(source: image.height, destination: input.height, mode: input.resize)
            cachedSize = (image.width, image.height)
        }
        if bytesNHWC {
            resizeU8NHWC(image, destination.bindMemory(to: UInt8.self), swapRB: swapRB)
        } else {
            resizeFloat(image, destination, swapRB: swapRB)
        }
    }

    /// The common case, kept tight: bilinear on interleaved bytes straight into the tensor.
    private func resizeU8NHWC(_ image: RGBImage, _ out: UnsafeMutableBufferPointer<UInt8>, swapRB: Bool) {
        guard let xAxis, let yAxis, let src = image.pixels.baseAddress, let dst = out.baseAddress else { return }
        let outW = input.width
        let rowBytes = image.width * 3
        // Per-column offsets into a row, and weights, as raw pointers for the inner loop.
        xAxis.lower.withUnsafeBufferPointer { xl in
            xAxis.upper.withUnsafeBufferPointer { xu in
                xAxis.weight.withUnsafeBufferPointer { xw in
                    for y in 0..<input.height {
                        let top = src + Int(yAxis.lower[y]) * rowBytes
                        let bottom = src + Int(yAxis.upper[y]) * rowBytes
                        let wy = yAxis.weight[y]
                        var o = dst + y * outW * 3
                        for x in 0..<outW {
                            let l = Int(xl[x]) * 3
                            let u = Int(xu[x]) * 3
                            let wx = xw[x]
                            for c in 0..<3 {
                                let tl = Float(top[l + c])
                                let tr = Float(top[u + c])
                                let bl = Float(bottom[l + c])
                                let br = Float(bottom[u + c])
                                let t = tl + (tr - tl) * wx
                                let b = bl + (br - bl) * wx
                                let v = t + (b - t) * wy
                                o[swapRB ? 2 - c : c] = UInt8(min(255, v + 0.5))
                            }
                            o += 3
                        }
                    }
                }
            }
        }
    }

    /// Other layouts and types: same resize, then layout, type and normalisation.
    private func resizeFloat(_ image: RGBImage, _ out: UnsafeMutableRawBufferPointer, swapRB: Bool) {
        guard let xAxis, let yAxis, let src = image.pixels.baseAddress else { return }
        let w = input.width
        let h = input.height
        let rowBytes = image.width * 3
        for y in 0..<h {
            let top = src + Int(yAxis.lower[y]) * rowBytes
            let bottom = src + Int(yAxis.upper[y]) * rowBytes
            let wy = yAxis.weight[y]
            for x in 0..<w {
                let l = Int(xAxis.lower[x]) * 3
                let u = Int(xAxis.upper[x]) * 3
                let wx = xAxis.weight[x]
                for c in 0..<3 {
                    let t = Float(top[l + c]) + (Float(top[u + c]) - Float(top[l + c])) * wx
                    let b = Float(bottom[l + c]) + (Float(bottom[u + c]) - Float(bottom[l + c])) * wx
                    let v = t + (b - t) * wy
                    let channel = swapRB ? 2 - c : c
                    let index = planar ? channel * w * h + y * w + x : (y * w + x) * 3 + channel
                    if asFloat {
                        out.storeBytes(of: (v - mean[channel]) / std[channel], toByteOffset: index * 4, as: Float.self)
                    } else {
                        out[index] = UInt8(min(255, v + 0.5))
                    }
                }
            }
        }
    }
}
