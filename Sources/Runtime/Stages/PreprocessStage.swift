import Core
import Monitoring
import VideoIO
import Vision

/// Pre-processing: a decoded frame into the model's input layout, on the CPU.
enum PreprocessStage {
    static func run(_ source: SourceFrame, with preprocessor: inout Preprocessor) -> ReadyFrame {
        let t0 = Clock.now
        // The preprocessor writes every byte: no need to zero the buffer first.
        let size = preprocessor.bytesPerFrame
        var input = [UInt8](unsafeUninitializedCapacity: size) { _, count in count = size }
        let frame = source.frame
        frame.pixels.withUnsafeBufferPointer { px in
            input.withUnsafeMutableBytes { out in
                preprocessor.run(RGBImage(width: frame.width, height: frame.height, pixels: px), into: out)
            }
        }
        return ReadyFrame(source: source, input: input, preprocessSeconds: Clock.now - t0)
    }
}
