// The dataset manifest (datasets.yaml): parse, resolve paths, check them.
@testable import Datasets
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let text = String(data: bytes(data, size), encoding: .utf8) else { return 0 }
    let file = "fuzz/datasets.yaml"
    do {
        var manifest = try DatasetManifest.parse(text, file: file, scale: "ci")
        for i in manifest.datasets.indices {
            manifest.datasets[i].resolvePaths(relativeTo: scratch)
            do { try manifest.datasets[i].checkPaths() } catch { _ = "\(error)" }
            _ = manifest.datasets[i].annotationFiles
        }
    } catch {
        expectNamed(error, [file], "manifest")
    }
    return 0
}
