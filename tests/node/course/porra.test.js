// The lesson's functional test of the pools service, as the lesson gives it; only `app` is the
// address of the server under test (run-course.sh sets PORRIO_URL).
    var request = require('supertest'),
    app = process.env.PORRIO_URL;

    describe( "PUT porra", function() {
    it('should create', function (done) {
    request(app)
    .put('/porra/uno/dos/tres/4')
    .expect('Content-Type', /json/)
    .expect(200,done);
    });
    });
