/// Decodes TF Object Detection API outputs (NMS done in the graph): boxes `[N,K,4]` as normalised
/// `ymin, xmin, ymax, xmax`, scores `[N,K]`, classes `[N,K]`, count `[N]`.
public struct SSDDecoder: OutputDecoder {
    /// Roles the sidecar's `outputs` must name.
    public let requiredRoles = ["boxes", "scores", "classes", "count"]
    let labels: [Int: String]
    /// The sidecar's threshold.
    public let scoreThreshold: Float

    /// Creates the decoder for `spec`.
    public init(spec: ModelSpec) {
        labels = spec.labelsByClass
        scoreThreshold = spec.scoreThreshold
    }

    /// Detections of element `index` scoring at least `threshold` (the sidecar's when nil), best first.
    public func decode(_ outputs: [String: FloatTensor], index: Int, width: Int, height: Int, threshold: Float?)
        throws(DecodeError) -> [Detection]
    {
        let threshold = threshold ?? scoreThreshold
        guard let boxes = outputs["boxes"], let scores = outputs["scores"], let classes = outputs["classes"],
            let count = outputs["count"]
        else { throw DecodeError(message: "ssd decoder needs boxes, scores, classes and count outputs") }
        guard boxes.shape.count == 3, boxes.shape[2] == 4, scores.shape.count == 2,
            scores.shape[1] == boxes.shape[1], classes.shape == scores.shape, index < boxes.shape[0],
            count.values.count > index
        else {
            throw DecodeError(
                message: "ssd outputs have unexpected shapes: boxes \(boxes.shape), scores \(scores.shape), "
                    + "classes \(classes.shape), count \(count.shape)")
        }
        let k = boxes.shape[1]
        let n = min(Int(count.values[index]), k)
        let w = Double(width)
        let h = Double(height)
        var result: [Detection] = []
        for i in 0..<max(n, 0) {
            let score = scores.values[index * k + i]
            guard score >= threshold else { continue }
            let b = (index * k + i) * 4
            func clamp(_ v: Double, _ limit: Double) -> Double { min(max(v, 0), limit) }
            let box = [
                clamp(Double(boxes.values[b + 1]) * w, w), clamp(Double(boxes.values[b]) * h, h),
                clamp(Double(boxes.values[b + 3]) * w, w), clamp(Double(boxes.values[b + 2]) * h, h),
            ]
            let cls = Int(classes.values[index * k + i])
            result.append(Detection(label: labels[cls] ?? String(cls), classId: cls, score: score, box: box))
        }
        return result
    }
}
