/// One decoded picture, packed RGB24 (3 bytes a pixel, rows without padding).
public struct VideoFrame: Sendable {
    /// Position of the frame in its stream, counted from 0 in presentation order.
    public var index: Int
    /// Presentation time in seconds from the start of the stream.
    public var pts: Double
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `width * height * 3` bytes, row after row, R G B; empty for a frame decoded without its
    /// picture (`hasPicture`).
    public var pixels: [UInt8]

    /// Creates a frame; `pixels` must hold `width * height * 3` bytes.
    public init(index: Int, pts: Double, width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB24 frame needs width*height*3 bytes")
        self.index = index
        self.pts = pts
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A frame decoded without its picture (`VideoDecoder.nextFrame(picture: false)`): its place,
    /// time and size only, for a frame nothing will look at (one the detector skips).
    public init(index: Int, pts: Double, width: Int, height: Int) {
        self.index = index
        self.pts = pts
        self.width = width
        self.height = height
        self.pixels = []
    }

    /// Whether it carries its picture.
    public var hasPicture: Bool { !pixels.isEmpty }
}
