// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "tempo-bench",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bench", targets: ["bench"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Networks", targets: ["Networks"]),
        .library(name: "Distributed", targets: ["Distributed"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "VTHCL", targets: ["VTHCL"]),
        .library(name: "Protocols", targets: ["Protocols"]),
        .library(name: "Suite", targets: ["Suite"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // System libraries, found through pkg-config. Each shim.h re-exports the
        // macros Swift cannot import as `static inline` functions.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat libavcodec libswscale libavutil",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate",
                       providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),

        // Direct convolution kernels (AVX-512, chosen at run time); -O3 also in debug builds
        // so that tests run them at speed.
        .target(name: "CConvKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Tensors", dependencies: ["CBLAS", "CConvKernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "Networks", dependencies: ["Tensors"]),
        // Open MPI behind `Networks.ProcessGroup`: networks and trainers never import it.
        .target(name: "Distributed", dependencies: ["CMPI", "Networks"]),
        .target(name: "Media", dependencies: ["CFFmpeg", "CHDF5", "CPNG", "CDeflate", "CZstd"]),
        .target(name: "Datasets", dependencies: ["Media", "Tensors", .product(name: "Yams", package: "Yams")]),
        .target(name: "VTHCL", dependencies: ["Networks", "Datasets", "Media", "Protocols"]),
        .target(name: "Protocols", dependencies: ["Networks", "Datasets"]),
        .target(name: "Suite", dependencies: ["VTHCL", "Protocols", "Datasets", "Media", "Networks", "Tensors",
                                             .product(name: "Yams", package: "Yams")]),
        .executableTarget(name: "bench", dependencies: [
            "Tensors", "Networks", "Media", "Datasets", "VTHCL", "Protocols", "Suite", "CBLAS", "Distributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Fixtures are read from the source tree (see TestSupport), not bundled.
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], exclude: ["Fixtures"]),
        .testTarget(name: "NetworksTests", dependencies: ["Networks", "Tensors"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "CHDF5", "CZstd"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Media"]),
        .testTarget(name: "VTHCLTests", dependencies: ["VTHCL", "Distributed", "Networks", "Tensors", "Datasets", "Media", "Protocols"]),
        .testTarget(name: "ProtocolsTests", dependencies: ["Protocols", "Distributed", "Networks", "Tensors", "Datasets", "Media"], exclude: ["Fixtures"]),
        .testTarget(name: "SuiteTests", dependencies: ["Suite", "Media", "Protocols"]),
        .testTarget(name: "BenchTests", dependencies: ["bench", "Datasets"]),
    ]
)
