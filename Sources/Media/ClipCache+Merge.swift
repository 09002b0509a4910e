import Foundation

extension ClipCache {
    /// Folds finished parts into the cache file under the cache lock: builds a new file from
    /// the old one plus the parts (parts win), fsyncs it and renames it over the old one,
    /// then deletes the merged parts. A crash before the rename leaves the old file and the
    /// parts; after it, the new file (re-merging a leftover part is harmless). Returns the
    /// entry count of the file.
    @discardableResult
    func merge(hits: Int, misses: Int) throws(MediaError) -> Int {
        try makeFolders()
        let lock = try FileLock(path: lockPath)
        defer { withExtendedLifetime(lock) {} }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: partsFolder)) ?? []).sorted()
        let parts = names.filter { $0.hasSuffix(".h5") }.map { String($0.dropLast(3)) }
        removeDeadTemporaries(names)
        let exists = FileManager.default.fileExists(atPath: path)
        if parts.isEmpty && hits == 0 && misses == 0 && exists {
            return try countEntries()
        }
        let tmp = path + ".tmp.\(getpid())"
        unlink(tmp)
        var entries = 0
        var merged: [String] = []
        do {
            let out = try H5Object.createFile(tmp)
            let videos = try out.createGroup("videos")
            let bad = try out.createGroup("bad")
            var oldHits: Int64 = 0, oldMisses: Int64 = 0
            let partKeys = Set(parts)
            if exists {
                let old = try H5Object.openFile(path)
                oldHits = try old.intAttribute("lookups_hit") ?? 0
                oldMisses = try old.intAttribute("lookups_miss") ?? 0
                for (group, dest) in [("videos", videos), ("bad", bad)] where old.exists(group) {
                    let g = try old.openGroup(group)
                    for key in try g.memberNames() where !partKeys.contains(key) {
                        try g.copy(key, to: dest, as: key)
                        entries += group == "videos" ? 1 : 0
                    }
                }
            }
            for key in parts {
                let partFile = partPath(key)
                // An unreadable part cannot come from a completed write; drop it and the
                // video is decoded again next time.
                guard let part = try? H5Object.openFile(partFile) else {
                    unlink(partFile)
                    continue
                }
                if part.exists("videos/\(key)") {
                    try part.copy("videos/\(key)", to: videos, as: key)
                    entries += 1
                } else if part.exists("bad/\(key)") {
                    try part.copy("bad/\(key)", to: bad, as: key)
                }
                merged.append(key)
            }
            try writeRootAttributes(out, hits: oldHits + Int64(hits), misses: oldMisses + Int64(misses))
            try out.flush()
        }
        try commit(tmp, as: path)
        for key in merged {
            unlink(partPath(key))
            let claimPath = (partsFolder as NSString).appendingPathComponent(key + ".claim")
            if let claim = try? FileLock(tryPath: claimPath) {
                unlink(claimPath)
                withExtendedLifetime(claim) {}
            }
        }
        return entries
    }

    private func writeRootAttributes(_ file: H5Object, hits: Int64, misses: Int64) throws(MediaError) {
        try file.setAttribute("format", CacheAttr.format)
        try file.setAttribute("layout_version", CacheAttr.layoutVersion)
        try file.setAttribute("cache_name", name)
        try file.setAttribute("spec", specTag)
        try file.setAttribute("short_side", Int64(spec.shortSide ?? 0))
        try file.setAttribute("fps", spec.fps ?? 0)
        try file.setAttribute("filter", spec.filter.rawValue)
        try file.setAttribute("pix_fmt", "rgb24")
        try file.setAttribute("folder_fps", readerOptions.folderFPS)
        try file.setAttribute("chunk_frames", Int64(chunkFrames))
        try file.setAttribute("compression", compression.tag)
        try file.setAttribute("ffmpeg_version", FFmpeg.versionString)
        try file.setAttribute("hdf5_version", HDF5.version)
        try file.setAttribute("lookups_hit", hits)
        try file.setAttribute("lookups_miss", misses)
    }

    func countEntries() throws(MediaError) -> Int {
        let file = try H5Object.openFile(path)
        return file.exists("videos") ? try file.openGroup("videos").memberNames().count : 0
    }

    /// Removes temporaries (parts and merge outputs) whose writer process is gone.
    private func removeDeadTemporaries(_ partNames: [String]) {
        func dead(_ pid: Int32?) -> Bool {
            guard let pid, pid > 0 else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        for name in partNames where name.hasSuffix(".tmp") {
            let pid = name.dropLast(4).split(separator: ".").last.flatMap { Int32($0) }
            if dead(pid) { unlink((partsFolder as NSString).appendingPathComponent(name)) }
        }
        let prefix = (path as NSString).lastPathComponent + ".tmp."
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) {
            if dead(Int32(name.dropFirst(prefix.count))) { unlink((folder as NSString).appendingPathComponent(name)) }
        }
    }
}
