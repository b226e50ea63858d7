// TensorBoard's event file beside metrics.jsonl, written by rank 0: every scalar of metrics.jsonl
// under the same name and the sample grids as images, so that `tensorboard --logdir runs` shows
// and compares runs as researchers are used to. The messages, as tensorflow/core/util/event.proto
// and tensorflow/core/framework/summary.proto define them (only the fields written here):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; Image image = 4; }
//   Image   { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
import Foundation

public final class TensorBoardLog {
    private let records: TFRecordWriter

    /// Event files this process has opened: the last part of the name, as TensorFlow's writers
    /// number theirs, so that two logs opened within one second (a run resumed in the same
    /// process) get two files.
    private static var opened = 0

    /// A new event file in `folder`, named as TensorFlow names them (TensorBoard reads every file
    /// whose name holds "tfevents"; a resumed run adds a file, and TensorBoard joins them).
    public init(folder: String) throws {
        defer { TensorBoardLog.opened += 1 }
        let name = "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(ProcessInfo.processInfo.hostName).\(getpid()).\(TensorBoardLog.opened)"
        records = try TFRecordWriter(path: folder + "/" + name)
        var header = TensorBoardLog.event(step: 0)
        header.string(3, "brain.Event:2")
        records.write(header.encoded)
    }

    /// One scalar per field but "step" (the event's own step); metrics.jsonl's nulls (values that
    /// are not finite, as bpd for gan) are left out.
    public func scalars(_ fields: [String: Double], step: Int) {
        var summary = ProtobufMessage()
        for (tag, value) in fields.sorted(by: { $0.key < $1.key }) where tag != "step" && value.isFinite {
            var entry = ProtobufMessage()
            entry.string(1, tag)
            entry.float(2, Float(value))
            summary.message(1, entry)
        }
        write(summary, step: step)
    }

    /// An image already encoded as PNG, of `channels` 1 (gray), 3 (RGB) or 4 (RGBA).
    public func image(tag: String, png: [UInt8], width: Int, height: Int, channels: Int, step: Int) {
        var image = ProtobufMessage()
        image.integer(1, height)
        image.integer(2, width)
        image.integer(3, channels)
        image.bytes(4, png)
        var entry = ProtobufMessage()
        entry.string(1, tag)
        entry.message(4, image)
        var summary = ProtobufMessage()
        summary.message(1, entry)
        write(summary, step: step)
    }

    private func write(_ summary: ProtobufMessage, step: Int) {
        var event = TensorBoardLog.event(step: step)
        event.message(5, summary)
        records.write(event.encoded)
    }

    private static func event(step: Int) -> ProtobufMessage {
        var event = ProtobufMessage()
        event.double(1, Date().timeIntervalSince1970)
        event.integer(2, step)
        return event
    }
}
