// Every rank must hold the same parameters: they start as rank 0's (made there or read from a
// checkpoint) and stay equal because every rank applies the same summed gradients with the same
// optimizer. A checksum compared every `checksum_every` steps catches the day they do not
// (a non-deterministic kernel, a rank that skipped a step), before hours are spent on it.
extension Communicator {
    /// Copies rank `root`'s buffer into every rank's.
    public func broadcast(_ storage: Storage, root: Int = 0) {
        broadcast(UnsafeMutableRawBufferPointer(start: storage.pointer, count: storage.count * 4), root: root)
    }

    /// Gives every rank rank `root`'s parameter values.
    public func broadcastValues(of set: ParameterSet, root: Int = 0) {
        broadcast(set.values, root: root)
    }

    /// Gives every rank rank `root`'s optimizer moments and step count.
    public func broadcast(_ optimizer: Adamax, root: Int = 0) {
        broadcast(optimizer.firstMoment, root: root)
        broadcast(optimizer.infinityNorm, root: root)
        var step = Int64(optimizer.step)
        withUnsafeMutableBytes(of: &step) { broadcast($0, root: root) }
        optimizer.restore(step: Int(step))
    }

    /// Compares `set`'s parameters across ranks by checksum; when they differ, ends the job with a
    /// message naming the ranks that disagree with the most common value.
    public func verifyIdentical(_ set: ParameterSet, name: String, step: Int) {
        let checksums = gathered([parameterChecksum(UnsafeBufferPointer(start: set.values.pointer, count: set.count))]).map { $0[0] }
        guard Set(checksums).count > 1 else { return }
        var ranksByChecksum: [Double: [Int]] = [:]
        for (rank, checksum) in checksums.enumerated() { ranksByChecksum[checksum, default: []].append(rank) }
        // The largest group (the lowest rank on a tie) is taken as right, the others as diverged.
        let groups = ranksByChecksum.values.sorted { ($0.count, -$0[0]) > ($1.count, -$1[0]) }
        let list = { (ranks: [Int]) in ranks.map(String.init).joined(separator: ", ") }
        // Every rank knows; rank 0 alone says it and ends the job, the others wait to be ended
        // (in a barrier that rank 0 never joins, which the stall watchdog also bounds).
        guard isRoot else {
            barrier()
            abort("the parameters of \(name) differ across ranks at step \(step)", code: 70)
        }
        abort("the parameters of \(name) differ across ranks at step \(step): rank(s) \(list(groups.dropFirst().flatMap { $0 }.sorted())) "
              + "disagree with rank(s) \(list(groups[0])) "
              + "(checksums by rank: \(checksums.map { String(UInt64($0), radix: 16) }.joined(separator: " ")))",
              code: 70)  // EX_SOFTWARE, as for an MPI failure
    }
}

/// A hash of the exact bits of `values` (not their sum, which a swap of two values or a change in
/// the last bit would leave unchanged), in 52 bits so that a double holds it exactly and the
/// allreduce gather carries it unchanged. Four independent lanes keep it near memory speed.
public func parameterChecksum(_ values: UnsafeBufferPointer<Float>) -> Double {
    let prime: UInt64 = 0x100_0000_01b3
    var lanes: (UInt64, UInt64, UInt64, UInt64) = (0xcbf2_9ce4_8422_2325, 1, 2, 3)
    let bits = { (i: Int) in UInt64(values[i].bitPattern) }
    var i = 0
    while i + 4 <= values.count {
        lanes.0 = (lanes.0 ^ bits(i)) &* prime
        lanes.1 = (lanes.1 ^ bits(i + 1)) &* prime
        lanes.2 = (lanes.2 ^ bits(i + 2)) &* prime
        lanes.3 = (lanes.3 ^ bits(i + 3)) &* prime
        i += 4
    }
    while i < values.count {
        lanes.0 = (lanes.0 ^ bits(i)) &* prime
        i += 1
    }
    var hash = UInt64(values.count)
    for lane in [lanes.0, lanes.1, lanes.2, lanes.3] { hash = (hash ^ lane) &* prime }
    return Double(hash & (1 << 52 - 1))
}
