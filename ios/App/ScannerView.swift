import AVFoundation
import SwiftUI
import NyckelFFI

/// The camera preview that hands every frame's luma plane to the Rust scanner.
struct ScannerView: UIViewControllerRepresentable {
    let onCode: (ScannedCode) -> Void

    func makeUIViewController(context: Context) -> ScannerController {
        ScannerController(onCode: onCode)
    }

    func updateUIViewController(_ controller: ScannerController, context: Context) {}
}

/// Runs the capture session and shows its preview; frames go to a `FrameAnalyzer`.
final class ScannerController: UIViewController {
    private let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "app.nyckel.scanner")
    private let analyzer: FrameAnalyzer
    private var preview: AVCaptureVideoPreviewLayer?

    init(onCode: @escaping (ScannedCode) -> Void) {
        analyzer = FrameAnalyzer(onCode: onCode)
        super.init(nibName: nil, bundle: nil)
    }

    required init?(coder: NSCoder) {
        nil
    }

    override func viewDidLoad() {
        super.viewDidLoad()
        // The first use asks for camera access (NSCameraUsageDescription); a refusal leaves the preview black.
        guard let camera = AVCaptureDevice.default(for: .video),
              let input = try? AVCaptureDeviceInput(device: camera),
              session.canAddInput(input) else { return }
        session.sessionPreset = .hd1280x720
        session.addInput(input)
        let output = AVCaptureVideoDataOutput()
        // 420f: plane 0 is the full-range luma the scanner wants.
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(analyzer, queue: queue)
        guard session.canAddOutput(output) else { return }
        session.addOutput(output)
        let layer = AVCaptureVideoPreviewLayer(session: session)
        layer.videoGravity = .resizeAspectFill
        view.layer.addSublayer(layer)
        preview = layer
        let session = self.session
        queue.async { session.startRunning() }
    }

    override func viewDidLayoutSubviews() {
        super.viewDidLayoutSubviews()
        preview?.frame = view.bounds
    }

    override func viewWillDisappear(_ animated: Bool) {
        super.viewWillDisappear(animated)
        let session = self.session
        queue.async { session.stopRunning() }
    }
}

/// Scans frames on the capture queue and delivers the first code once, on the main queue.
/// Its state is touched only on that serial queue, hence the unchecked Sendable.
final class FrameAnalyzer: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    private let scanner = FrameScanner()
    private let onCode: (ScannedCode) -> Void
    private var delivered = false

    init(onCode: @escaping (ScannedCode) -> Void) {
        self.onCode = onCode
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard !delivered, let pixels = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddressOfPlane(pixels, 0) else { return }
        let width = CVPixelBufferGetWidthOfPlane(pixels, 0)
        let height = CVPixelBufferGetHeightOfPlane(pixels, 0)
        let stride = CVPixelBufferGetBytesPerRowOfPlane(pixels, 0)
        let luma = Data(bytes: base, count: stride * height)
        // The back camera's buffers are landscape: a quarter turn clockwise makes a portrait frame upright.
        guard let codes = try? scanner.scanFrame(
            luma: luma, width: UInt32(width), height: UInt32(height), rowStride: UInt32(stride), rotationDegrees: 90
        ), let first = codes.first else { return }
        delivered = true
        let onCode = self.onCode
        DispatchQueue.main.async { onCode(first) }
    }
}
