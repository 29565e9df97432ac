package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"time"
	"unicode"
)

// The chart: one block per scenario and mode, one line per target, with a
// throughput bar and a p99 bar. Bars are scaled within each block (the
// scenarios differ by orders of magnitude); the labels carry the values.

var (
	colBackground = color.RGBA{255, 255, 255, 255}
	colText       = color.RGBA{30, 30, 30, 255}
	colGrid       = color.RGBA{225, 225, 225, 255}
	colRef        = color.RGBA{170, 170, 170, 255}
	colFloor      = color.RGBA{66, 114, 196, 255}
	colOurs       = color.RGBA{237, 125, 49, 255}
)

func roleColor(r role) color.RGBA {
	switch r {
	case roleFloor:
		return colFloor
	case roleOurs:
		return colOurs
	}
	return colRef
}

const (
	fontScale  = 2
	charW      = 6 * fontScale // 5 pixels and a gap
	charH      = 8 * fontScale
	lineH      = 22
	labelCols  = 44
	barMax     = 380
	valueCols  = 12
	leftMargin = 16
)

func (rep *report) chart() ([]byte, error) {
	type block struct {
		title string
		rows  []row
	}
	var blocks []block
	index := map[string]int{}
	for _, r := range rep.rows {
		i, ok := index[r.group()]
		if !ok {
			i = len(blocks)
			index[r.group()] = i
			blocks = append(blocks, block{title: r.scenario + " (" + r.mode + ")"})
		}
		blocks[i].rows = append(blocks[i].rows, r)
	}
	labelW := labelCols * charW
	panelW := barMax + valueCols*charW + 24
	width := leftMargin*2 + labelW + 2*panelW
	height := 110
	for _, b := range blocks {
		height += lineH*(len(b.rows)+1) + 10
	}
	height += 20
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBackground}, image.Point{}, draw.Src)

	title := "gemini_balance benchmark: throughput and p99 per scenario"
	if rep.cfg.quick {
		title += " (quick smoke run)"
	}
	drawText(img, leftMargin, 12, title, colText, 3)
	x0 := leftMargin + labelW
	x1 := x0 + panelW
	drawText(img, x0, 50, "THROUGHPUT, REQ/S", colText, fontScale)
	drawText(img, x1, 50, "P99 LATENCY", colText, fontScale)
	// Legend.
	lx := leftMargin
	for _, l := range []struct {
		c    color.RGBA
		text string
	}{{colOurs, "gemini_balance"}, {colFloor, "floor"}, {colRef, "other reference"}} {
		fillRect(img, lx, 80, 14, 14, l.c)
		drawText(img, lx+20, 79, l.text, colText, fontScale)
		lx += 20 + (len(l.text)+3)*charW
	}
	drawText(img, leftMargin, 50, "bars scaled within each scenario", colRef, fontScale)

	y := 110
	for _, b := range blocks {
		fillRect(img, leftMargin, y+lineH-4, width-2*leftMargin, 1, colGrid)
		drawText(img, leftMargin, y, b.title, colText, fontScale)
		y += lineH
		var maxRPS float64
		var maxP99 time.Duration
		for _, r := range b.rows {
			maxRPS = max(maxRPS, r.res.rps())
			maxP99 = max(maxP99, r.stats().p99)
		}
		for _, r := range b.rows {
			drawText(img, leftMargin+2*charW, y+3, r.t.name, colText, fontScale)
			c := roleColor(r.t.role)
			if maxRPS > 0 {
				w := int(float64(barMax) * r.res.rps() / maxRPS)
				fillRect(img, x0, y+2, max(w, 1), lineH-6, c)
				drawText(img, x0+w+6, y+3, rpsString(r.res.rps()), colText, fontScale)
			}
			if p99 := r.stats().p99; maxP99 > 0 {
				w := int(float64(barMax) * float64(p99) / float64(maxP99))
				fillRect(img, x1, y+2, max(w, 1), lineH-6, c)
				drawText(img, x1+w+6, y+3, ms(p99), colText, fontScale)
			}
			y += lineH
		}
		y += 10
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode chart: %w", err)
	}
	return buf.Bytes(), nil
}

func fillRect(img *image.RGBA, x, y, w, h int, c color.RGBA) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

// drawText writes s with the built-in 5×7 font, upper case, each pixel
// scale×scale, top-left at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA, scale int) {
	s = strings.NewReplacer("×", "x", "µ", "u", "–", "-", "≥", ">=", "≤", "<=", "→", "->").Replace(s)
	for _, ch := range s {
		g, ok := glyphs[unicode.ToUpper(ch)]
		if !ok {
			g = glyphs['?']
		}
		for row := range 7 {
			for col := range 5 {
				if g[row*5+col] == '#' {
					fillRect(img, x+col*scale, y+row*scale, scale, scale, c)
				}
			}
		}
		x += 6 * scale
	}
}

// glyphs is a 5×7 bitmap font: 35 characters per glyph, row by row.
var glyphs = map[rune]string{
	' ':  "...................................",
	'A':  ".###.#...##...#######...##...##...#",
	'B':  "####.#...##...#####.#...##...#####.",
	'C':  ".###.#...##....#....#....#...#.###.",
	'D':  "####.#...##...##...##...##...#####.",
	'E':  "######....#....####.#....#....#####",
	'F':  "######....#....####.#....#....#....",
	'G':  ".###.#...##....#.####...##...#.###.",
	'H':  "#...##...##...#######...##...##...#",
	'I':  ".###...#....#....#....#....#...###.",
	'J':  "..###...#....#....#....#.#..#..##..",
	'K':  "#...##..#.#.#..##...#.#..#..#.#...#",
	'L':  "#....#....#....#....#....#....#####",
	'M':  "#...###.###.#.##.#.##...##...##...#",
	'N':  "#...##...###..##.#.##..###...##...#",
	'O':  ".###.#...##...##...##...##...#.###.",
	'P':  "####.#...##...#####.#....#....#....",
	'Q':  ".###.#...##...##...##.#.##..#..##.#",
	'R':  "####.#...##...#####.#.#..#..#.#...#",
	'S':  ".#####....#.....###.....#....#####.",
	'T':  "#####..#....#....#....#....#....#..",
	'U':  "#...##...##...##...##...##...#.###.",
	'V':  "#...##...##...##...##...#.#.#...#..",
	'W':  "#...##...##...##.#.##.#.##.#.#.#.#.",
	'X':  "#...##...#.#.#...#...#.#.#...##...#",
	'Y':  "#...##...#.#.#...#....#....#....#..",
	'Z':  "#####....#...#...#...#...#....#####",
	'0':  ".###.#...##..###.#.###..##...#.###.",
	'1':  "..#...##....#....#....#....#...###.",
	'2':  ".###.#...#....#...#...#...#...#####",
	'3':  "####.....#....#.###.....#....#####.",
	'4':  "...#...##..#.#.#..#.#####...#....#.",
	'5':  "######....####.....#....##...#.###.",
	'6':  "..##..#...#....####.#...##...#.###.",
	'7':  "#####....#...#...#...#....#....#...",
	'8':  ".###.#...##...#.###.#...##...#.###.",
	'9':  ".###.#...##...#.####....#...#..##..",
	'.':  "..........................##...##..",
	',':  ".....................##....#...#...",
	':':  "......##...##........##...##.......",
	';':  "......##...##........##....#...#...",
	'/':  "....#....#...#...#...#...#....#....",
	'-':  "................###................",
	'(':  "...#...#...#....#....#.....#.....#.",
	')':  ".#.....#.....#....#....#...#...#...",
	'%':  "##..###..#...#...#...#...#..###..##",
	'=':  "..........#####.....#####..........",
	'+':  "......#....#..#####..#....#........",
	'_':  "..............................#####",
	'>':  ".#.....#.....#.....#...#...#...#...",
	'<':  "...#...#...#...#.....#.....#.....#.",
	'\'': "..#....#...#.......................",
	'"':  ".#.#..#.#..........................",
	'?':  ".###.#...#....#...#...#.........#..",
	'!':  "..#....#....#....#....#.........#..",
	'*':  "......#..#.#.#.###.#.#.#..#........",
	'&':  ".##..#..#.#.#...#...#.#.##..#..##.#",
	'#':  ".#.#..#.#######.#.#######.#.#..#.#.",
	'^':  "..#...#.#.#...#....................",
	'[':  ".###..#....#....#....#....#....###.",
	']':  ".###....#....#....#....#....#..###.",
	'{':  "...#...#....#...#.....#....#.....#.",
	'}':  ".#.....#....#.....#...#....#...#...",
	'|':  "..#....#....#....#....#....#....#..",
	'@':  ".###.#...##.###.#.##.###.#.....###.",
	'$':  "..#...####.#....###....#.####...#..",
	'`':  ".#.....#...........................",
	'~':  "...........#.#.#.#.................",
}
