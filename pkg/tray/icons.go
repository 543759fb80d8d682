package tray

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
)

// iconSize is the side of every icon in pixels: panels scale it down.
const iconSize = 32

// iconLook is an icon's colour and the mark drawn on it.
type iconLook struct {
	fill color.NRGBA
	mark string // "check", "dots", "ring", "bang", "cross", "slash"
}

var looks = map[Icon]iconLook{
	IconConnected:    {color.NRGBA{0x2e, 0x9d, 0x4f, 0xff}, "check"},
	IconConnecting:   {color.NRGBA{0xe0, 0x9a, 0x1b, 0xff}, "dots"},
	IconDisconnected: {color.NRGBA{0x8a, 0x8f, 0x98, 0xff}, "ring"},
	IconAttention:    {color.NRGBA{0xd9, 0x3f, 0x0b, 0xff}, "bang"},
	IconRevoked:      {color.NRGBA{0xb0, 0x1e, 0x2d, 0xff}, "cross"},
	IconDaemonDown:   {color.NRGBA{0x55, 0x5a, 0x63, 0xff}, "slash"},
}

// IconPNG returns icon as a 32×32 PNG: a disc in the state's colour with a
// white mark, so that the states differ in shape as well as colour.
func IconPNG(icon Icon) []byte {
	look, ok := looks[icon]
	if !ok {
		look = looks[IconAttention]
	}
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	const c, r = (iconSize - 1) / 2.0, iconSize/2.0 - 1
	for y := range iconSize {
		for x := range iconSize {
			dx, dy := float64(x)-c, float64(y)-c
			d := math.Hypot(dx, dy)
			if d > r {
				continue
			}
			px := look.fill
			if onMark(look.mark, dx/r, dy/r, d/r) {
				px = white
			}
			img.SetNRGBA(x, y, px)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // encoding to memory cannot fail
	return b.Bytes()
}

// onMark reports whether the point (x, y), in units of the disc's radius
// from its centre, is on the mark.
func onMark(mark string, x, y, d float64) bool {
	near := func(px, py, qx, qy, w float64) bool { // within w of the segment p–q
		vx, vy := qx-px, qy-py
		t := math.Max(0, math.Min(1, ((x-px)*vx+(y-py)*vy)/(vx*vx+vy*vy)))
		return math.Hypot(x-(px+t*vx), y-(py+t*vy)) <= w
	}
	switch mark {
	case "check":
		return near(-0.45, 0.0, -0.1, 0.35, 0.11) || near(-0.1, 0.35, 0.5, -0.35, 0.11)
	case "dots":
		return math.Hypot(x+0.45, y) < 0.14 || math.Hypot(x, y) < 0.14 || math.Hypot(x-0.45, y) < 0.14
	case "ring":
		return d > 0.45 && d < 0.65
	case "bang":
		return near(0, -0.55, 0, 0.15, 0.12) || math.Hypot(x, y-0.45) < 0.13
	case "cross":
		return near(-0.4, -0.4, 0.4, 0.4, 0.12) || near(-0.4, 0.4, 0.4, -0.4, 0.12)
	case "slash":
		return near(-0.45, 0.45, 0.45, -0.45, 0.1) || (d > 0.5 && d < 0.64)
	}
	return false
}

// IconICO returns icon as a Windows .ico file holding the PNG, which is
// what the Windows tray takes.
func IconICO(icon Icon) []byte {
	p := IconPNG(icon)
	var b bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image; then its ICONDIRENTRY.
	_ = binary.Write(&b, binary.LittleEndian, [3]uint16{0, 1, 1})
	b.Write([]byte{iconSize, iconSize, 0, 0})
	_ = binary.Write(&b, binary.LittleEndian, [2]uint16{1, 32}) // planes, bits per pixel
	_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(len(p)), 6 + 16})
	b.Write(p)
	return b.Bytes()
}
