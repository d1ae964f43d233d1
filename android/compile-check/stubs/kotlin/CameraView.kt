// COMPILE-ONLY STUB of androidx.camera:camera-view 1.4 (see Stub.kt).
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.camera.view

import android.content.Context
import android.widget.FrameLayout
import androidx.camera.core.Preview
import app.nyckel.compilestub.stub

class PreviewView(context: Context) : FrameLayout(context) {
    val surfaceProvider: Preview.SurfaceProvider get() = stub()
}
