// Images in the `.npz` that `sample` writes and that FID/IS tools read: member `arr_0.npy`,
// uint8 (N, H, W, C) in C order, C = 1 or 3. Streamed through the zip reader one image at a
// time and turned to planar CHW, the order every other reader gives, so `score` can judge a
// million samples in the memory of one.
import Foundation

public struct NPZImages: ImageSource {
    public let path: String
    public let shape: ImageShape
    public let expectedCount: Int

    public init(path: String) throws {
        self.path = path
        let (_, header) = try NPZImages.open(path)
        let (n, h, w, c) = (header.shape[0], header.shape[1], header.shape[2], header.shape[3])
        shape = ImageShape(channels: c, height: h, width: w)
        expectedCount = n
    }

    /// Images before `items` are inflated and dropped (the zip stream cannot seek).
    public func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let (reader, _) = try NPZImages.open(path)
        let (pixels, c) = (shape.height * shape.width, shape.channels)
        let interleaved = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        let planar = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { interleaved.deallocate(); planar.deallocate() }
        for index in 0..<items.upperBound {
            try reader.read(into: interleaved, count: shape.byteCount)
            guard index >= items.lowerBound else { continue }
            for p in 0..<pixels { for ch in 0..<c { planar[ch * pixels + p] = interleaved[p * c + ch] } }
            try body(planar)
        }
    }

    /// The `arr_0.npy` member, positioned after its header, which must describe uint8
    /// (N, H, W, C) images in C order that fill the member exactly.
    static func open(_ path: String) throws -> (ZipMemberReader, NPYHeader) {
        let archive = try ZipArchive(path: path)
        let reader = try archive.reader(for: archive.member(named: "arr_0.npy"))
        let header = try NPYHeader(name: "\(path) (arr_0.npy)") { try reader.read(into: $0, count: $1) }
        let s = header.shape
        // Each dimension is bounded before any product, so the size check cannot overflow; sides
        // up to 1024 (the paper's images are 96 at most), so a batch of them fits in memory.
        let plausible = s.count == 4 && s[0] >= 1 && (1...1024).contains(s[1]) && (1...1024).contains(s[2]) && [1, 3].contains(s[3])
            && s[0] <= reader.member.size / (s[1] * s[2] * s[3])
        guard ["|u1", "<u1", ">u1"].contains(header.descr), !header.fortranOrder, plausible,
              reader.member.size == header.size + s.reduce(1, *) else {
            throw DataError(file: path, "expected arr_0 to hold uint8 images (N, H, W, C) with C = 1 or 3 in C order, found dtype \(header.descr), shape \(s)\(header.fortranOrder ? " in Fortran order" : "")\(plausible ? " that does not fill the member" : "")")
        }
        return (reader, header)
    }
}
