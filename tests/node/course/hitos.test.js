// The milestone routes in the style of the course's hug service: {"status": "OK"} on / and
// /status, {"hitos": ...} on /all, {"hito": {...}} on /one/{id} (README: HTTP API), each answer
// checked against the milestones file the server under test loads (run-course.sh sets
// PORRIO_URL and HITOS_FILE).
var request = require('supertest'),
    assert = require('assert'),
    fs = require('fs'),
    app = process.env.PORRIO_URL,
    file = JSON.parse(fs.readFileSync(process.env.HITOS_FILE, 'utf8'));

// A JSON error as the README gives it: {"error": "<message>", "status": <code>}.
function jsonError(status, words) {
  return function (res) {
    assert.deepStrictEqual(Object.keys(res.body).sort(), ['error', 'status']);
    assert.strictEqual(res.body.status, status);
    assert.ok(res.body.error.indexOf(words) >= 0, 'error "' + res.body.error + '" lacks "' + words + '"');
  };
}

describe('GET / and /status', function () {
  ['/', '/status'].forEach(function (path) {
    it(path + ' answers {"status": "OK"}', function (done) {
      request(app)
        .get(path)
        .expect('Content-Type', /json/)
        .expect(200)
        .expect(function (res) { assert.strictEqual(res.body.status, 'OK'); })
        .end(done);
    });
  });
});

describe('GET /all', function () {
  it('answers {"hitos": ...} with the comment and every milestone of the file', function (done) {
    request(app)
      .get('/all')
      .expect('Content-Type', /json/)
      .expect(200)
      .expect(function (res) {
        var h = res.body.hitos;
        assert.strictEqual(h.comment, file.comment);
        assert.deepStrictEqual(h.hitos_lista, file.hitos_lista);
        file.hitos_lista.forEach(function (m) { assert.deepStrictEqual(h.hitos[m.file], m); });
        assert.strictEqual(Object.keys(h.hitos).length, file.hitos_lista.length);
      })
      .end(done);
  });
});

describe('GET /one/{id}', function () {
  file.hitos_lista.forEach(function (m, i) {
    it('/one/' + i + ' answers {"hito": hitos_lista[' + i + ']}', function (done) {
      request(app)
        .get('/one/' + i)
        .expect('Content-Type', /json/)
        .expect(200, { hito: m }, done);
    });
  });

  it('/one/{id} past the last milestone answers a 404 JSON error', function (done) {
    request(app)
      .get('/one/' + file.hitos_lista.length)
      .expect('Content-Type', /json/)
      .expect(404)
      .expect(jsonError(404, 'no milestone'))
      .end(done);
  });

  ['x', '-0', '00', '+0', '-1'].forEach(function (id) {
    it('/one/' + id + ' is no way to write an index: a 400 JSON error naming id', function (done) {
      request(app)
        .get('/one/' + encodeURIComponent(id))
        .expect('Content-Type', /json/)
        .expect(400)
        .expect(jsonError(400, 'id:'))
        .end(done);
    });
  });
});
