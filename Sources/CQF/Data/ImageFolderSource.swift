// A folder tree of PNG and JPEG images (CelebA's `img_align_celeba/`, or any class-per-folder
// tree), in sorted path order, each center-cropped (CelebA: 178 or 96) and resized with the
// antialiasing filter (96 by default). An undecodable image or one smaller than the crop is
// skipped with a warning, not fatal: one bad file should not stop a pass over 200,000.
import Foundation

/// The images under one folder, found recursively.
public struct ImageFolderSource: ImageSource {
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]
    public let path: String
    public let files: [String]
    public let shape: ImageShape
    public let crop: Int?

    public var expectedCount: Int { files.count }

    public init(path: String, size: Int, crop: Int?) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
              let walker = FileManager.default.enumerator(atPath: path) else {
            throw DataError(file: path, "expected a folder of .png/.jpg/.jpeg images, found no such folder")
        }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            let ext = (relative as NSString).pathExtension.lowercased()
            if ImageFolderSource.extensions.contains(ext) { files.append("\(path)/\(relative)") }
        }
        guard !files.isEmpty else {
            throw DataError(file: path, "expected .png/.jpg/.jpeg images in this folder or below it, found none")
        }
        self.path = path
        self.files = files.sorted()
        self.crop = crop
        shape = ImageShape(channels: 3, height: size, width: size)
    }

    public func forEachImage(warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let decoder = ImageDecoder(size: shape.height, crop: crop)
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { image.deallocate() }
        let contents = FileContents()
        for file in files {
            do {
                try contents.read(file)
                try decoder.decode(contents.bytes, into: image)
            } catch let error as DataError {
                warn("\(file): \(error.description.hasSuffix(".") ? String(error.description.dropLast()) : error.description); skipped.")
                continue
            }
            try body(image)
        }
    }
}

/// A file read whole into a buffer reused from one file to the next.
final class FileContents {
    private var buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
    private var capacity = 1 << 20
    private(set) var count = 0

    deinit { buffer.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }

    func read(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw DataError("cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw DataError("cannot be read (\(String(cString: strerror(errno))))") }
        let size = Int(status.st_size)
        if size > capacity {
            buffer.deallocate()
            capacity = size
            buffer = .allocate(byteCount: size, alignment: 16)
        }
        count = 0
        while count < size {
            let got = Foundation.read(descriptor, buffer + count, size - count)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw DataError("cannot be read (\(got < 0 ? String(cString: strerror(errno)) : "it ended early"))") }
            count += got
        }
    }
}
