/// Reads a classifier's `[N, classes]` scores (probabilities or logits) into one detection per frame:
/// the top class, its score, and the whole frame as the box.
public struct ClassifierDecoder: OutputDecoder {
    /// The role the sidecar's `outputs` must name.
    public let requiredRoles = ["scores"]
    let labels: [Int: String]

    /// Creates the decoder for `spec`.
    public init(spec: ModelSpec) {
        labels = spec.labelsByClass
    }

    /// A classifier reports its top class whatever its score.
    public var scoreThreshold: Float { 0 }

    /// The top class of element `index` (one per frame: `threshold` does not apply).
    public func decode(_ outputs: [String: FloatTensor], index: Int, width: Int, height: Int, threshold: Float?)
        throws(DecodeError) -> [Detection]
    {
        guard let scores = outputs["scores"], scores.shape.count == 2, index < scores.shape[0], scores.shape[1] > 0
        else { throw DecodeError(message: "classifier needs scores shaped [N, classes]") }
        let classes = scores.shape[1]
        let row = scores.values[(index * classes)..<((index + 1) * classes)]
        let best = row.indices.max { row[$0] < row[$1] }!
        let cls = best - index * classes
        return [
            Detection(
                label: labels[cls] ?? String(cls), classId: cls, score: row[best],
                box: [0, 0, Double(width), Double(height)])
        ]
    }
}
