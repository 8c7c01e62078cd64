/// How a frame is resized to the model's input size. The sidecar names the one its model was trained with.
public enum ResizeMode: String, Codable, Sendable, CaseIterable {
    /// TF1's legacy bilinear (`align_corners=false`, `half_pixel_centers=false`): source = dest * scale.
    /// What TF Object Detection API graphs do inside themselves.
    case tfLegacyBilinear = "tf-legacy-bilinear"
    /// OpenCV / PyTorch style bilinear with half-pixel centres: source = (dest + 0.5) * scale - 0.5.
    case halfPixelBilinear = "half-pixel-bilinear"
    /// Nearest neighbour, asymmetric.
    case nearest = "nearest"
}

/// Precomputed source indices and weights along one axis.
struct ResizeAxis: Sendable {
    /// Lower source index for each destination index.
    var lower: [Int32]
    /// Upper source index.
    var upper: [Int32]
    /// Weight of the upper sample.
    var weight: [Float]

    init(source: Int, destination: Int, mode: ResizeMode) {
        lower = []
        upper = []
        weight = []
        lower.reserveCapacity(destination)
        upper.reserveCapacity(destination)
        weight.reserveCapacity(destination)
        let scale = Float(source) / Float(destination)
        for d in 0..<destination {
            let s: Float
            switch mode {
            case .tfLegacyBilinear, .nearest: s = Float(d) * scale
            case .halfPixelBilinear: s = max(0, (Float(d) + 0.5) * scale - 0.5)
            }
            let lo = min(Int(s.rounded(.down)), source - 1)
            let hi = min(lo + 1, source - 1)
            lower.append(Int32(lo))
            upper.append(Int32(hi))
            weight.append(mode == .nearest ? 0 : s - Float(lo))
        }
    }
}
