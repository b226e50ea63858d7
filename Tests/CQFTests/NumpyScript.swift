// Python with numpy as an independent reader and writer of our file formats (npz, safetensors).
// Only tests run it; the project's code never does.
import Foundation
import XCTest

/// Runs `script` with python3 and hands its standard output to `check`; when python3 or numpy is
/// not installed, the test skips or, under CI, fails (MissingPrerequisite.swift).
func runPython(_ script: String, arguments: [String] = [], file: StaticString = #filePath, line: UInt = #line,
               _ check: (String) throws -> Void = { _ in }) throws {
    let probe = Process()
    probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    probe.arguments = ["python3", "-c", "import numpy"]
    probe.standardError = FileHandle.nullDevice
    probe.standardOutput = FileHandle.nullDevice
    try probe.run()
    probe.waitUntilExit()
    // env exits 127 when it finds no python3.
    guard probe.terminationStatus != 127 else { throw notInstalled("python3", package: "python3") }
    guard probe.terminationStatus == 0 else { throw notInstalled("numpy for python3", package: "python3-numpy") }
    let run = Process()
    run.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    run.arguments = ["python3", "-c", script] + arguments
    let output = Pipe(), errors = Pipe()
    run.standardOutput = output
    run.standardError = errors
    try run.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    run.waitUntilExit()
    XCTAssertEqual(run.terminationStatus, 0, "python3 failed: \(errorText)", file: file, line: line)
    if run.terminationStatus == 0 { try check(text) }
}
