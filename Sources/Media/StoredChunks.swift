import Foundation

/// The compressed chunks that one window of frames touches, read straight from the file and
/// decompressed here: HDF5's own filter runs on the calling thread under the HDF5 lock (zlib
/// for deflate), while here libdeflate (about twice zlib's speed) or zstd decompress on every core.
///
/// Chunk `i` holds frames `[firstFrame + i * chunkFrames, ... + chunkFrames)` and takes
/// `sizes[i]` bytes in the file: a zlib stream or a zstd frame of exactly `chunkFrames *
/// frameBytes` bytes, the video's last chunk included (HDF5 stores edge chunks full-size;
/// frames past the end are padding), or those bytes raw when the chunk's filter mask says the
/// filter was skipped.
struct StoredChunks: Sendable {
    /// The filter of a dataset whose chunks are read this way.
    enum Codec: Sendable { case deflate, zstd }

    /// What `H5Object.storedChunkLayout` finds in a dataset readable this way.
    struct Layout: Sendable, Equatable {
        var chunkFrames: Int
        var codec: Codec
    }

    let dataset: H5Object
    let codec: Codec
    let firstFrame: Int
    let chunkFrames: Int
    let frameBytes: Int
    let rank: Int
    let sizes: [Int]

    /// The chunks of frames `[start, start + count)` of `dataset` (chunked `[layout.chunkFrames,
    /// frameShape...]`), or nil when one of them was never written: HDF5 reads those as fill
    /// values, so that rare case is left to `H5Dread`. The caller holds the HDF5 lock.
    static func locate(_ dataset: H5Object, start: Int, count: Int, layout: Layout,
                       frameShape: [Int]) throws(MediaError) -> StoredChunks? {
        let rank = frameShape.count + 1
        let chunkFrames = layout.chunkFrames
        let first = start / chunkFrames * chunkFrames
        var sizes: [Int] = []
        for frame in stride(from: first, to: start + count, by: chunkFrames) {
            let size = try dataset.storedChunkSize(frame: frame, rank: rank)
            guard size > 0 else { return nil }
            sizes.append(size)
        }
        return StoredChunks(dataset: dataset, codec: layout.codec, firstFrame: first, chunkFrames: chunkFrames,
                            frameBytes: frameShape.reduce(1, *), rank: rank, sizes: sizes)
    }

    /// Writes frames `[start, start + count)` (which must lie in these chunks) to `out`
    /// (`count * frameBytes` bytes). One task per chunk over all cores: each copies its chunk
    /// as stored under `lock` (the HDF5 lock, so fetches stay serial but overlap other tasks'
    /// decompressing), then decompresses it without the lock. The caller must not hold `lock`.
    /// Errors name `file` and `videoID`; with several, the first chunk's is thrown.
    func read(start: Int, count: Int, into out: UnsafeMutableRawPointer, lock: NSRecursiveLock,
              file: String, videoID: String) throws(MediaError) {
        let errors = UnsafeMutableBufferPointer<MediaError?>.allocate(capacity: sizes.count)
        errors.initialize(repeating: nil)
        defer {
            errors.deinitialize()
            errors.deallocate()
        }
        let job = Job(chunks: self, out: out, errors: errors, lock: lock)
        DispatchQueue.concurrentPerform(iterations: sizes.count) { i in
            do throws(MediaError) {
                try job.chunks.readChunk(i, start: start, count: count, into: job.out, lock: job.lock,
                                         file: file, videoID: videoID)
            } catch {
                job.errors[i] = error
            }
        }
        if let error = errors.lazy.compactMap({ $0 }).first { throw error }
    }

    /// What the workers share. `@unchecked`: the pointers outlive `concurrentPerform`, each
    /// task writes only its own chunk's frames of `out` and its own slot of `errors`, and
    /// HDF5 is only called under `lock`.
    private struct Job: @unchecked Sendable {
        let chunks: StoredChunks
        let out: UnsafeMutableRawPointer
        let errors: UnsafeMutableBufferPointer<MediaError?>
        let lock: NSRecursiveLock
    }

    /// Writes the frames of chunk `i` that fall in `[start, start + count)` to their place in `out`.
    private func readChunk(_ i: Int, start: Int, count: Int, into out: UnsafeMutableRawPointer,
                           lock: NSRecursiveLock, file: String, videoID: String) throws(MediaError) {
        let chunkStart = firstFrame + i * chunkFrames
        let from = max(chunkStart, start), to = min(chunkStart + chunkFrames, start + count)
        let dst = UnsafeMutableRawBufferPointer(start: out + (from - start) * frameBytes, count: (to - from) * frameBytes)
        let chunkBytes = chunkFrames * frameBytes
        let skip = (from - chunkStart) * frameBytes
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: sizes[i], alignment: 64)
        defer { stored.deallocate() }
        lock.lock()
        let mask: UInt32
        do {
            defer { lock.unlock() }
            mask = try dataset.readStoredChunk(frame: chunkStart, rank: rank, into: stored.baseAddress!)
        }
        let src = UnsafeRawBufferPointer(stored)
        func what() -> String { "video '\(videoID)', chunk at frame \(chunkStart) (\(sizes[i]) bytes stored)" }
        if mask & 1 != 0 {
            // The filter was skipped when this chunk was written: stored raw.
            guard src.count == chunkBytes else {
                throw .corrupt(file: file, detail: "\(what()): unfiltered chunk is not \(chunkBytes) bytes")
            }
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[skip..<(skip + dst.count)]))
            return
        }
        if dst.count == chunkBytes {
            try decompress(src, into: dst, file: file, what: what())
            return
        }
        // A chunk the window only partly covers: decompress it whole (neither a deflate stream
        // nor a zstd frame can be entered midway) and keep the frames asked for.
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { scratch.deallocate() }
        try decompress(src, into: scratch, file: file, what: what())
        dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[skip..<(skip + dst.count)]))
    }

    private func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                            file: String, what: @autoclosure () -> String) throws(MediaError) {
        switch codec {
        case .deflate:
            try Inflater(file: file).zlibInflate(src, into: dst, file: file, what: what())
        case .zstd:
            try ZstdDecompressor.pooled(file: file) { (d) throws(MediaError) in
                try d.decompress(src, into: dst, file: file, what: what())
            }
        }
    }
}
