import Foundation

/// Outcome of `ClipCache.build`.
public struct BuildReport: Sendable, Codable {
    /// Videos already cached with the same source identity, spec and FFmpeg version.
    public var hits = 0
    /// Videos decoded by this build.
    public var decoded = 0
    /// Videos that could not be decoded (new or already known), in input order.
    public var bad: [BadVideo] = []
    /// Entries in the cache file after the final merge.
    public var entries = 0
}

/// Progress callback: (videos done, total, id of the video just done).
public typealias CacheProgress = (Int, Int, String) -> Void

extension ClipCache {
    /// What the cache (or a pending part) records about one video.
    struct Record {
        var isBad: Bool
        var identity: SourceIdentity?
        var ffmpegVersion: String
        var spec: String
        var bad: BadVideo?
    }

    enum Outcome {
        case hit
        case decoded(bytes: Int64)
        case bad(BadVideo)
        case busy
    }

    /// Decodes every source not yet cached (or cached from a different source file, spec or
    /// FFmpeg version), then merges the new entries into the cache file.
    ///
    /// Bad videos (missing, empty, truncated, corrupt, not a video) are recorded and
    /// skipped; the report lists them and the caller decides the exit status. Errors of the
    /// cache itself (disk full, say) stop the build; finished entries survive either way.
    public func build(_ sources: [CacheSource], progress: CacheProgress? = nil) throws(MediaError) -> BuildReport {
        // The HDF5 library here is not thread-safe: a build shares the readers' process-wide
        // lock, so a stage filling one cache never overlaps another stage's reads (`--jobs`).
        ClipCacheReader.hdf5Lock.lock()
        defer { ClipCacheReader.hdf5Lock.unlock() }
        // Nothing is created or locked up front: a complete cache is only read, so it serves
        // runs from a read-only folder or mount. Folders and locks come when a video needs
        // decoding (`prepareToWrite`).
        var report = BuildReport()
        var index = try loadIndex()
        var pendingBytes: Int64 = 0
        var deferred: [CacheSource] = []
        var done = 0

        func account(_ outcome: Outcome, _ source: CacheSource) throws(MediaError) {
            switch outcome {
            case .hit: report.hits += 1
            case .decoded(let bytes):
                report.decoded += 1
                pendingBytes += bytes
            case .bad(let b): report.bad.append(b)
            case .busy: deferred.append(source); return
            }
            done += 1
            progress?(done, sources.count, source.id)
            if pendingBytes >= max(mergeThresholdBytes, fileSize(path)) {
                _ = try merge(hits: 0, misses: 0)
                index = try loadIndex()
                pendingBytes = 0
            }
        }

        for source in sources {
            try account(try process(source, index: index, wait: false), source)
        }
        // Videos another builder was decoding: wait for it, then take them over if needed.
        let waiting = deferred
        deferred = []
        for source in waiting {
            try account(try process(source, index: index, wait: true), source)
        }
        if report.decoded == 0 && !hasPendingParts && FileManager.default.fileExists(atPath: path)
            && !FileSystemErrors.canWrite(folder) {
            // Everything was cached and the folder is read-only: read, and leave the hit
            // counters as they are (updating them means rewriting the file).
            report.entries = try countEntries()
            return report
        }
        try prepareToWrite(missing: report.decoded)
        report.entries = try merge(hits: report.hits, misses: report.decoded)
        return report
    }

    /// Finished parts waiting to be merged.
    var hasPendingParts: Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: partsFolder)) ?? []).contains { $0.hasSuffix(".h5") }
    }

    /// Creates the cache folders, or fails saying why the cache has to be written and what
    /// to do about it. `missing`: how many videos are not cached yet (0: only bookkeeping).
    func prepareToWrite(missing: Int) throws(MediaError) {
        do throws(MediaError) {
            try makeFolders()
            if access(folder, W_OK | X_OK) != 0 { throw MediaError.io(file: folder, what: "access", errno: errno) }
        } catch {
            guard case .io(let file, let what, let code) = error else { throw error }
            let why = missing > 0
                ? "\(what) (to write the clip cache, which lacks \(missing == 1 ? "a video" : "\(missing) videos"): new, changed, or decoded by another FFmpeg version)"
                : "\(what) (to write the clip cache: an earlier build left parts to merge)"
            throw .ioAdvice(file: file, what: why, errno: code,
                            advice: "A complete cache is only read, so it can be read-only: build it where it can be written, then copy or mount it read-only.")
        }
    }

    private func process(_ source: CacheSource, index: [String: Record], wait: Bool) throws(MediaError) -> Outcome {
        let key = ClipCache.key(for: source.id)
        let identity: SourceIdentity
        do {
            identity = try SourceIdentity.of(source.path)
        } catch {
            return try recordBad(source, key: key, error: error, identity: nil, index: index)
        }
        if let known = index[key], let outcome = reuse(known, identity: identity) { return outcome }
        if let part = readPartRecord(key), let outcome = reuse(part, identity: identity) { return outcome }

        try prepareToWrite(missing: 1)
        let claimPath = (partsFolder as NSString).appendingPathComponent(key + ".claim")
        let claim: FileLock
        if wait {
            claim = try FileLock(path: claimPath)
        } else {
            guard let c = try FileLock(tryPath: claimPath) else { return .busy }
            claim = c
        }
        defer { withExtendedLifetime(claim) {} }
        // Another builder may have finished this video while we waited.
        if let part = readPartRecord(key), let outcome = reuse(part, identity: identity) { return outcome }
        if let fresh = try? loadRecord(key), let outcome = reuse(fresh, identity: identity) { return outcome }
        removeStaleTemporaries(key)

        let tmp = (partsFolder as NSString).appendingPathComponent("\(key).\(getpid()).tmp")
        do {
            try writeVideoPart(source, key: key, identity: identity, to: tmp)
        } catch {
            unlink(tmp)
            if error.file.hasPrefix(source.path) {
                return try recordBad(source, key: key, error: error, identity: identity, index: index)
            }
            throw error
        }
        let bytes = fileSize(tmp)
        try commit(tmp, as: partPath(key))
        return .decoded(bytes: bytes)
    }

    /// A record still valid for `identity` under the current spec and FFmpeg version.
    private func reuse(_ record: Record, identity: SourceIdentity) -> Outcome? {
        guard record.identity == identity, record.ffmpegVersion == FFmpeg.versionString, record.spec == specTag else {
            return nil
        }
        if record.isBad, let bad = record.bad { return .bad(bad) }
        return .hit
    }

    private func recordBad(_ source: CacheSource, key: String, error: MediaError, identity: SourceIdentity?,
                           index: [String: Record]) throws(MediaError) -> Outcome {
        let bad = BadVideo(id: source.id, path: source.path, kind: error.kind, message: error.description)
        // Already recorded with the same failure: nothing new to write.
        if let known = index[key] ?? readPartRecord(key), known.isBad, known.bad == bad,
           known.identity == identity, known.ffmpegVersion == FFmpeg.versionString {
            return .bad(bad)
        }
        try prepareToWrite(missing: 1)
        let tmp = (partsFolder as NSString).appendingPathComponent("\(key).\(getpid()).tmp")
        do {
            let file = try H5Object.createFile(tmp)
            let group = try file.group("bad")
            let entry = try group.createGroup(key)
            try writeCommonAttributes(entry, source: source, identity: identity)
            try entry.setAttribute("error_kind", bad.kind)
            try entry.setAttribute("error", bad.message)
        }
        try commit(tmp, as: partPath(key))
        return .bad(bad)
    }

    /// Decodes `source` into a part file: `/videos/<key>`, uint8 [T, H, W, 3], written one
    /// chunk of frames at a time so long videos never sit whole in memory.
    private func writeVideoPart(_ source: CacheSource, key: String, identity: SourceIdentity, to tmp: String) throws(MediaError) {
        let reader = try VideoReader(path: source.path, options: readerOptions)
        let size = reader.outputSize(spec)
        let frameShape = [size.height, size.width, 3]
        let frameBytes = size.height * size.width * 3
        let file = try H5Object.createFile(tmp)
        let group = try file.group("videos")
        let dataset = try group.createFrameDataset(key, frameShape: frameShape, chunkFrames: chunkFrames, compression: compression)
        var batch = [UInt8](repeating: 0, count: chunkFrames * frameBytes)
        var inBatch = 0
        var written = 0
        func flush() throws(MediaError) {
            guard inBatch > 0 else { return }
            try batch.withUnsafeBufferPointer { (raw) throws(MediaError) in
                try dataset.writeFrames(raw.baseAddress!, at: written, count: inBatch, frameShape: frameShape)
            }
            written += inBatch
            inBatch = 0
        }
        try reader.decode(spec: spec) { (frame: UnsafeBufferPointer<UInt8>) throws(MediaError) in
            batch.withUnsafeMutableBufferPointer { dst in
                _ = UnsafeMutableBufferPointer(rebasing: dst[(inBatch * frameBytes)...]).initialize(from: frame)
            }
            inBatch += 1
            if inBatch == chunkFrames { try flush() }
        }
        try flush()
        try writeCommonAttributes(dataset, source: source, identity: identity)
        try dataset.setAttribute("frames", Int64(written))
        try dataset.setAttribute("fps", spec.fps ?? reader.info.fps)
        try dataset.setAttribute("source_fps", reader.info.fps)
        try dataset.setAttribute("source_codec", reader.info.codec)
        try dataset.setAttribute("source_width", Int64(reader.info.width))
        try dataset.setAttribute("source_height", Int64(reader.info.height))
        if let rule = reader.frameGapRule {
            // Frame folders: gaps in the numbering were filled, never closed up (docs/cache-layout.md).
            try dataset.setAttribute("frame_gap_rule", rule)
            try dataset.setAttribute("filled_frames", reader.filledFrames.map(String.init).joined(separator: ","))
            try dataset.setAttribute("filled_frame_count", Int64(reader.filledFrames.count))
        }
    }

    private func writeCommonAttributes(_ object: H5Object, source: CacheSource, identity: SourceIdentity?) throws(MediaError) {
        try object.setAttribute("video_id", source.id)
        try object.setAttribute("source_path", source.path)
        try object.setAttribute("source_size", identity?.size ?? -1)
        try object.setAttribute("source_mtime_ns", identity?.mtimeNanoseconds ?? -1)
        try object.setAttribute("source_hash", identity?.hash ?? "")
        try object.setAttribute("ffmpeg_version", FFmpeg.versionString)
        try object.setAttribute("spec", specTag)
    }

    // MARK: records

    func partPath(_ key: String) -> String {
        (partsFolder as NSString).appendingPathComponent(key + ".h5")
    }

    static func record(of object: H5Object, isBad: Bool) throws(MediaError) -> Record {
        let size = try object.intAttribute("source_size") ?? -1
        let identity: SourceIdentity? = size < 0 ? nil : SourceIdentity(
            size: size, mtimeNanoseconds: try object.intAttribute("source_mtime_ns") ?? -1,
            hash: try object.stringAttribute("source_hash") ?? "")
        var bad: BadVideo? = nil
        if isBad {
            bad = BadVideo(id: try object.stringAttribute("video_id") ?? "",
                           path: try object.stringAttribute("source_path") ?? "",
                           kind: try object.stringAttribute("error_kind") ?? "",
                           message: try object.stringAttribute("error") ?? "")
        }
        return Record(isBad: isBad, identity: identity, ffmpegVersion: try object.stringAttribute("ffmpeg_version") ?? "",
                      spec: try object.stringAttribute("spec") ?? "", bad: bad)
    }

    /// Every record of the cache file, by key.
    func loadIndex() throws(MediaError) -> [String: Record] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let file = try H5Object.openFile(path)
        var index: [String: Record] = [:]
        for (groupName, isBad) in [("videos", false), ("bad", true)] where file.exists(groupName) {
            let group = try file.openGroup(groupName)
            for key in try group.memberNames() {
                let object = isBad ? try group.openGroup(key) : try group.openDataset(key)
                index[key] = try ClipCache.record(of: object, isBad: isBad)
            }
        }
        return index
    }

    /// One record of the cache file, or nil.
    private func loadRecord(_ key: String) throws(MediaError) -> Record? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try H5Object.openFile(path)
        if file.exists("videos/\(key)") { return try ClipCache.record(of: try file.openDataset("videos/\(key)"), isBad: false) }
        if file.exists("bad/\(key)") { return try ClipCache.record(of: try file.openGroup("bad/\(key)"), isBad: true) }
        return nil
    }

    /// The record of a finished, unmerged part, or nil (absent or unreadable: a part that
    /// cannot be read is simply decoded again).
    private func readPartRecord(_ key: String) -> Record? {
        let p = partPath(key)
        guard FileManager.default.fileExists(atPath: p), let file = try? H5Object.openFile(p) else { return nil }
        if file.exists("videos/\(key)"), let d = try? file.openDataset("videos/\(key)") {
            return try? ClipCache.record(of: d, isBad: false)
        }
        if file.exists("bad/\(key)"), let g = try? file.openGroup("bad/\(key)") {
            return try? ClipCache.record(of: g, isBad: true)
        }
        return nil
    }

    // MARK: files

    func makeFolders() throws(MediaError) {
        do {
            try FileManager.default.createDirectory(atPath: partsFolder, withIntermediateDirectories: true)
        } catch {
            throw .io(file: partsFolder, what: "create folder", errno: FileSystemErrors.errno(of: error))
        }
    }

    /// fsyncs `tmp` and renames it to `final` (then fsyncs the folder), so the final name
    /// only ever points at a complete file.
    func commit(_ tmp: String, as final: String) throws(MediaError) {
        try fsyncPath(tmp)
        guard rename(tmp, final) == 0 else { throw .io(file: final, what: "rename", errno: errno) }
        try fsyncPath((final as NSString).deletingLastPathComponent)
    }

    func fsyncPath(_ path: String) throws(MediaError) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(file: path, what: "open for fsync", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(file: path, what: "fsync", errno: errno) }
    }

    func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Removes `<key>.<pid>.tmp` files left by builders that died (we hold the claim, so no
    /// live builder is writing them).
    private func removeStaleTemporaries(_ key: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: partsFolder)) ?? []
        for name in names where name.hasPrefix(key + ".") && name.hasSuffix(".tmp") {
            let middle = name.dropFirst(key.count + 1).dropLast(4)
            if Int32(middle) != nil { unlink((partsFolder as NSString).appendingPathComponent(name)) }
        }
    }
}
