package app.nyckel.app

import android.Manifest
import android.content.pm.PackageManager
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.LocalLifecycleOwner
import app.nyckel.ffi.FrameScanner
import app.nyckel.ffi.ScannedCode
import java.util.concurrent.Executors

/** Asks for the camera when needed, then shows the scanning preview. */
@Composable
fun ScannerScreen(modifier: Modifier = Modifier, onCode: (ScannedCode) -> Unit) {
    val context = LocalContext.current
    var granted by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED)
    }
    var asked by remember { mutableStateOf(false) }
    val request = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { result ->
        granted = result
        asked = true
    }
    LaunchedEffect(Unit) { if (!granted) request.launch(Manifest.permission.CAMERA) }
    when {
        granted -> CameraPreview(modifier, onCode)
        asked -> Box(modifier.padding(24.dp)) { Text("Nyckel needs the camera to scan QR codes. Allow it in the system settings.") }
        else -> Box(modifier)
    }
}

/**
 * Camera preview whose frames go to the Rust scanner: CameraX `ImageAnalysis` in
 * YUV_420_888, plane 0 (luma) with its row stride, and the frame's rotation.
 */
@Composable
private fun CameraPreview(modifier: Modifier, onCode: (ScannedCode) -> Unit) {
    val context = LocalContext.current
    val lifecycleOwner = LocalLifecycleOwner.current
    val scanner = remember { FrameScanner() }
    val executor = remember { Executors.newSingleThreadExecutor() }
    val previewView = remember { PreviewView(context) }

    DisposableEffect(lifecycleOwner) {
        val providerFuture = ProcessCameraProvider.getInstance(context)
        var delivered = false
        var analysis: ImageAnalysis? = null
        providerFuture.addListener({
            val provider = providerFuture.get()
            // setSurfaceProvider, not the `surfaceProvider` property: Preview's getter is restricted to CameraX itself.
            val preview = Preview.Builder().build().also { it.setSurfaceProvider(previewView.surfaceProvider) }
            analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_YUV_420_888)
                .build()
                .also { useCase ->
                    useCase.setAnalyzer(executor) { image ->
                        val code = image.use { scan(scanner, it) }
                        if (code != null && !delivered) {
                            delivered = true
                            ContextCompat.getMainExecutor(context).execute { onCode(code) }
                        }
                    }
                    provider.unbindAll()
                    provider.bindToLifecycle(lifecycleOwner, CameraSelector.DEFAULT_BACK_CAMERA, preview, useCase)
                }
        }, ContextCompat.getMainExecutor(context))
        onDispose {
            analysis?.clearAnalyzer()
            if (providerFuture.isDone) providerFuture.get().unbindAll()
            // The scanner is closed on the analysis thread, after any frame still in progress.
            executor.execute { scanner.close() }
            executor.shutdown()
        }
    }
    AndroidView(factory = { previewView }, modifier = modifier)
}

private fun scan(scanner: FrameScanner, image: ImageProxy): ScannedCode? {
    val plane = image.planes[0]
    val buffer = plane.buffer
    val luma = ByteArray(buffer.remaining()).also { buffer.get(it) }
    return try {
        scanner.scanFrame(
            luma,
            image.width.toUInt(),
            image.height.toUInt(),
            plane.rowStride.toUInt(),
            image.imageInfo.rotationDegrees,
        ).firstOrNull()
    } catch (error: Exception) {
        // A bad frame is skipped; the next one comes in a few milliseconds.
        null
    }
}
